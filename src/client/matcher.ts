/**
 * The blocklist matcher: `isBlocked(ip)` over a million listings and exclusions in a few hundred nanoseconds,
 * parsing included.
 *
 * The longest-prefix / exclusion semantics of decide() (src/domain/listing.ts) are flattened once, when the matcher
 * is built, into disjoint sorted ranges covering the whole address space. Adjacent ranges with the same answer
 * are merged, so the answers alternate and a range's answer is the parity of its index: a lookup is a bucket
 * read (the top bits of the address) and a short binary search over one typed array. IPv6 uses the same scheme
 * over full 128-bit boundaries (four words each, interleaved so a probe reads one cache line), so prefixes
 * longer than /64 need nothing special. A built matcher never changes; the client swaps whole matchers.
 */
import { V6, isTrimmable, parseV4, parseV6 } from './ip-fast.js';
import { NetworkTable, type CidrEntry } from './network-table.js';

/** Bits of the address that pick an IPv4 bucket (2^16 buckets: 256 KiB of index, a few probes a lookup). */
const V4_BUCKET_BITS = 16;
/** IPv6 buckets: up to 2^16 over the span of the first words present. */
const V6_BUCKET_LIMIT = 65536;

interface Family4 {
  starts: Uint32Array;
  firstListed: number;
  index: Uint32Array;
}

interface Family6 {
  /** Boundaries, four words each. */
  starts: Uint32Array;
  n: number;
  firstListed: number;
  index: Uint32Array;
  min: number;
  shift: number;
  buckets: number;
}

/** Sizes of a built matcher, for logs and the bench. */
export interface MatcherStats {
  v4Ranges: number;
  v6Ranges: number;
  bytes: number;
}

export class BlocklistMatcher {
  /** Earliest expiry (ms) of an entry in force when built: the matcher must be rebuilt then. Infinity: never. */
  readonly nextExpiry: number;

  constructor(
    private readonly f4: Family4,
    private readonly f6: Family6,
    nextExpiry: number,
  ) {
    this.nextExpiry = nextExpiry;
  }

  private static empty: BlocklistMatcher | undefined;
  /** A matcher with nothing listed. */
  static get EMPTY(): BlocklistMatcher {
    return (BlocklistMatcher.empty ??= compile(NetworkTable.EMPTY, 0));
  }

  /**
   * True when the address is listed: the longest live prefix covering it is a listing and no exclusion of the
   * same length exists. IPv4, IPv6 and v4-mapped IPv6 (::ffff:a.b.c.d, matched as IPv4). Anything that is not an
   * address (zone ids, brackets, CIDRs, garbage, non-strings) is false; it never throws.
   */
  isBlocked(ip: string): boolean {
    if (typeof ip !== 'string') return false;
    const v4 = parseV4(ip, 0, ip.length);
    if (v4 >= 0) return this.lookup4(v4);
    if (parseV6(ip, 0, ip.length)) return this.lookupParsed6();
    return this.slowPath(ip);
  }

  /** The 32-bit IPv4 value form of isBlocked (no parsing). */
  isBlockedV4(value: number): boolean {
    return this.lookup4(value >>> 0);
  }

  get stats(): MatcherStats {
    return {
      v4Ranges: this.f4.starts.length,
      v6Ranges: this.f6.n,
      bytes: this.f4.starts.byteLength + this.f4.index.byteLength + this.f6.starts.byteLength + this.f6.index.byteLength,
    };
  }

  /** The listed ranges, disjoint and sorted, [first, last] inclusive (for tests, baselines and exports). */
  listedRanges(): { v4: Array<[number, number]>; v6: Array<[bigint, bigint]> } {
    const v4: Array<[number, number]> = [];
    const s4 = this.f4.starts;
    for (let i = this.f4.firstListed === 1 ? 0 : 1; i < s4.length; i += 2) v4.push([s4[i]!, i + 1 < s4.length ? s4[i + 1]! - 1 : 0xffffffff]);
    const v6: Array<[bigint, bigint]> = [];
    const s6 = this.f6.starts;
    const at = (i: number) => (BigInt(s6[i * 4]!) << 96n) | (BigInt(s6[i * 4 + 1]!) << 64n) | (BigInt(s6[i * 4 + 2]!) << 32n) | BigInt(s6[i * 4 + 3]!);
    for (let i = this.f6.firstListed === 1 ? 0 : 1; i < this.f6.n; i += 2) v6.push([at(i), i + 1 < this.f6.n ? at(i + 1) - 1n : (1n << 128n) - 1n]);
    return { v4, v6 };
  }

  private lookupParsed6(): boolean {
    const w0 = V6[0]!;
    const w1 = V6[1]!;
    const w2 = V6[2]!;
    if (w0 === 0 && w1 === 0 && w2 === 0xffff) return this.lookup4(V6[3]!);
    return this.lookup6(w0, w1, w2, V6[3]!);
  }

  /** Surrounding white space is forgiven, as parseAddress does; only reached when the fast parse failed. */
  private slowPath(ip: string): boolean {
    if (ip.length === 0 || (!isTrimmable(ip.charCodeAt(0)) && !isTrimmable(ip.charCodeAt(ip.length - 1)))) return false;
    const t = ip.trim();
    if (t.length === ip.length || t.length === 0) return false;
    return this.isBlocked(t);
  }

  private lookup4(x: number): boolean {
    const { starts, index } = this.f4;
    const b = x >>> (32 - V4_BUCKET_BITS);
    let lo = index[b]!;
    let hi = index[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return ((lo - 1) & 1) !== this.f4.firstListed;
  }

  private lookup6(x0: number, x1: number, x2: number, x3: number): boolean {
    const f = this.f6;
    const s = f.starts;
    let lo: number;
    let hi: number;
    if (x0 < f.min) {
      lo = 1;
      hi = 1;
    } else {
      const b = Math.min((x0 - f.min) >>> f.shift, f.buckets);
      lo = f.index[b]!;
      hi = b === f.buckets ? f.n : f.index[b + 1]!;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = mid << 2;
      const a = s[k]!;
      let le: boolean;
      if (a !== x0) le = a < x0;
      else if (s[k + 1] !== x1) le = s[k + 1]! < x1;
      else if (s[k + 2] !== x2) le = s[k + 2]! < x2;
      else le = s[k + 3]! <= x3;
      if (le) lo = mid + 1;
      else hi = mid;
    }
    return ((lo - 1) & 1) !== f.firstListed;
  }
}

/** Builds a matcher from dataset entries (snapshot form); entries already expired at `now` are left out. */
export function buildMatcher(listings: Iterable<CidrEntry>, exclusions: Iterable<CidrEntry> = [], opts: { now?: Date } = {}): BlocklistMatcher {
  return compile(NetworkTable.from(listings, exclusions), (opts.now ?? new Date()).getTime());
}

/** Flattens a table into a matcher for the entries live at `now` (ms). */
export function compile(table: NetworkTable, now: number): BlocklistMatcher {
  const next = { at: Number.POSITIVE_INFINITY };
  const f4 = flatten4(table, now, next);
  const f6 = flatten6(table, now, next);
  return new BlocklistMatcher(f4, f6, next.at);
}

/** Boundary list under construction: equal neighbours merge, a second boundary at one position replaces the first. */
class Boundaries {
  n = 0;
  flags: Uint8Array;
  constructor(capacity: number) {
    this.flags = new Uint8Array(capacity);
  }
  /** Returns the slot written to, or -1 when the boundary changed nothing. */
  emit(samePosition: boolean, flag: number): number {
    const n = this.n;
    if (n > 0 && samePosition) {
      this.flags[n - 1] = flag;
      if (n > 1 && this.flags[n - 2] === flag) this.n--;
      return -1;
    }
    if (n > 0 && this.flags[n - 1] === flag) return -1;
    this.flags[n] = flag;
    this.n++;
    return n;
  }
}

function flatten4(table: NetworkTable, now: number, next: { at: number }): Family4 {
  const { n, keys, exp } = table.v4;
  const out = new Float64Array(2 * n + 1);
  const bounds = new Boundaries(2 * n + 1);
  const stackEnd = new Float64Array(70);
  const stackFlag = new Uint8Array(70);
  let sp = 0;
  const emit = (pos: number, flag: number) => {
    const slot = bounds.emit(bounds.n > 0 && out[bounds.n - 1] === pos, flag);
    if (slot >= 0) out[slot] = pos;
  };
  const popTo = (limit: number) => {
    while (sp > 0 && stackEnd[sp - 1]! < limit) {
      const after = stackEnd[--sp]! + 1;
      if (after <= 0xffffffff) emit(after, sp > 0 ? stackFlag[sp - 1]! : 0);
    }
  };
  emit(0, 0);
  for (let i = 0; i < n; i++) {
    const e = exp[i]!;
    if (!(e > now)) continue;
    if (e < next.at) next.at = e;
    const key = keys[i]!;
    const pk = key % 128;
    const start = (key - pk) / 128;
    const prefix = pk >> 1;
    const flag = (pk & 1) === 0 ? 1 : 0;
    popTo(start);
    emit(start, flag);
    stackEnd[sp] = start + 2 ** (32 - prefix) - 1;
    stackFlag[sp++] = flag;
  }
  popTo(Number.POSITIVE_INFINITY);
  const starts = Uint32Array.from(out.subarray(0, bounds.n));
  return { starts, firstListed: bounds.flags[0]!, index: bucketIndex4(starts) };
}

function bucketIndex4(starts: Uint32Array): Uint32Array {
  const buckets = 2 ** V4_BUCKET_BITS;
  const index = new Uint32Array(buckets + 1);
  let i = 0;
  for (let b = 0; b <= buckets; b++) {
    const from = b * 2 ** (32 - V4_BUCKET_BITS);
    while (i < starts.length && starts[i]! < from) i++;
    index[b] = i;
  }
  // Bucket 0 always holds the boundary at 0.0.0.0; start the search there so lo - 1 is never -1.
  index[0] = 0;
  return index;
}

function flatten6(table: NetworkTable, now: number, next: { at: number }): Family6 {
  const { n, words, pk, exp } = table.v6;
  const cap = 2 * n + 1;
  const out = new Uint32Array(cap * 4);
  const bounds = new Boundaries(cap);
  const stackEnd = new Uint32Array(260 * 4);
  const stackFlag = new Uint8Array(260);
  let sp = 0;
  const pos = new Uint32Array(4);

  const emitPos = (flag: number) => {
    const k = (bounds.n - 1) * 4;
    const same = bounds.n > 0 && out[k] === pos[0] && out[k + 1] === pos[1] && out[k + 2] === pos[2] && out[k + 3] === pos[3];
    const slot = bounds.emit(same, flag);
    if (slot >= 0) out.set(pos, slot * 4);
  };
  /** Stack top's end < the 128-bit value at words[at*4…]; null `at` means +infinity. */
  const topEndsBefore = (src: Uint32Array | null, at: number) => {
    if (src === null) return true;
    const k = (sp - 1) * 4;
    for (let w = 0; w < 4; w++) {
      const a = stackEnd[k + w]!;
      const b = src[at * 4 + w]!;
      if (a !== b) return a < b;
    }
    return false;
  };
  const popTo = (src: Uint32Array | null, at: number) => {
    while (sp > 0 && topEndsBefore(src, at)) {
      sp--;
      // pos = end + 1, unless end is the last address
      let carry = 1;
      for (let w = 3; w >= 0; w--) {
        const v = stackEnd[sp * 4 + w]! + carry;
        carry = v > 0xffffffff ? 1 : 0;
        pos[w] = v;
      }
      if (carry === 0) emitPos(sp > 0 ? stackFlag[sp - 1]! : 0);
    }
  };

  pos.fill(0);
  emitPos(0);
  for (let i = 0; i < n; i++) {
    const e = exp[i]!;
    if (!(e > now)) continue;
    if (e < next.at) next.at = e;
    popTo(words, i);
    const prefix = pk[i]! >> 1;
    const flag = (pk[i]! & 1) === 0 ? 1 : 0;
    pos.set(words.subarray(i * 4, i * 4 + 4));
    emitPos(flag);
    for (let w = 0; w < 4; w++) {
      const bits = prefix - w * 32;
      const host = bits >= 32 ? 0 : bits <= 0 ? 0xffffffff : 2 ** (32 - bits) - 1;
      stackEnd[sp * 4 + w] = words[i * 4 + w]! + host;
    }
    stackFlag[sp++] = flag;
  }
  popTo(null, 0);
  const count = bounds.n;
  const starts = out.slice(0, count * 4);
  return { starts, n: count, firstListed: bounds.flags[0]!, ...bucketIndex6(starts, count) };
}

/** Buckets over the first word, spread across the span actually used (most listings sit inside 2000::/3). */
function bucketIndex6(starts: Uint32Array, n: number): { index: Uint32Array; min: number; shift: number; buckets: number } {
  if (n <= 1) return { index: new Uint32Array(1).fill(1), min: 0, shift: 0, buckets: 0 };
  const min = starts[4]!;
  const span = starts[(n - 1) * 4]! - min;
  let shift = 0;
  while (span / 2 ** shift >= V6_BUCKET_LIMIT) shift++;
  const buckets = Math.floor(span / 2 ** shift) + 1;
  const index = new Uint32Array(buckets + 1);
  let i = 1;
  for (let b = 0; b <= buckets; b++) {
    while (i < n && (starts[i * 4]! - min) / 2 ** shift < b) i++;
    index[b] = i;
  }
  return { index, min, shift, buckets };
}
