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
import { V6, hasMappedPrefix, isTrimmable, parseV4, parseV6 } from './ip-fast.js';
import { NetworkTable, type CidrEntry } from './network-table.js';

/** IPv6 buckets: one per ~8 boundaries, at most 2^16 (a 256 KiB index that stays in cache; bigger measured no faster). */
const v6Buckets = (boundaries: number) => 2 ** Math.min(16, Math.max(4, Math.ceil(Math.log2(Math.max(1, boundaries / 8)))));

/**
 * IPv4: 2^16 buckets by the top 16 bits (the 256 KiB index stays in cache), and per boundary only its low 16 bits
 * (the bucket gives the rest): 2 bytes a boundary, so a bucket's boundaries usually share one cache line.
 */
interface Family4 {
  lows: Uint16Array;
  firstListed: number;
  /** index[b]: the first boundary in bucket b; index[65536] = the boundary count. */
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
    if (hasMappedPrefix(ip)) {
      const mapped = parseV4(ip, 7, ip.length);
      if (mapped >= 0) return this.lookup4(mapped);
    }
    if (parseV6(ip, 0, ip.length)) return this.lookupParsed6();
    return this.slowPath(ip);
  }

  /** The 32-bit IPv4 value form of isBlocked (no parsing). */
  isBlockedV4(value: number): boolean {
    return this.lookup4(value >>> 0);
  }

  get stats(): MatcherStats {
    return {
      v4Ranges: this.f4.lows.length,
      v6Ranges: this.f6.n,
      bytes: this.f4.lows.byteLength + this.f4.index.byteLength + this.f6.starts.byteLength + this.f6.index.byteLength,
    };
  }

  /** The listed ranges, disjoint and sorted, [first, last] inclusive (for tests, baselines and exports). */
  listedRanges(): { v4: Array<[number, number]>; v6: Array<[bigint, bigint]> } {
    const v4: Array<[number, number]> = [];
    const { lows, index } = this.f4;
    const s4 = new Float64Array(lows.length);
    for (let b = 0; b < 65536; b++) for (let i = index[b]!; i < index[b + 1]!; i++) s4[i] = b * 65536 + lows[i]!;
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
    const { lows, index } = this.f4;
    const b = x >>> 16;
    const low = x & 0xffff;
    let lo = index[b]!;
    let hi = index[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lows[mid]! <= low) lo = mid + 1;
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

/*
 * The sweep: networks come sorted by start, wider first, and two networks are either nested or disjoint. A stack
 * holds the networks containing the current position, innermost on top. Entering a network starts a range with
 * its answer (listing: listed, exclusion: not listed; an exclusion of the same network comes after the listing
 * and replaces it); leaving one starts a range with the answer of the network around it (or not listed).
 */

function flatten4(table: NetworkTable, now: number, next: { at: number }): Family4 {
  const { n, start, pk, exp } = table.v4;
  // The answers alternate, so the boundary at k answers first ^ (k & 1): positions are all that is stored.
  // emit(at, flag), written out twice below (a closure over count/first would keep them off registers):
  //   same position as the last boundary: it takes the new answer (merging with the one before if equal);
  //   else a boundary only when the answer changes.
  const pos = new Uint32Array(2 * n + 1);
  let count = 1; // the boundary at 0.0.0.0, not listed
  let first = 0;
  const stackEnd = new Float64Array(70);
  const stackFlag = new Uint8Array(70);
  let sp = 0;
  for (let i = 0; i <= n; i++) {
    let s = Number.POSITIVE_INFINITY;
    if (i < n) {
      const e = exp[i]!;
      if (!(e > now)) continue;
      if (e < next.at) next.at = e;
      s = start[i]!;
    }
    while (sp > 0 && stackEnd[sp - 1]! < s) {
      const at = stackEnd[--sp]! + 1;
      if (at > 0xffffffff) continue;
      const flag = sp > 0 ? stackFlag[sp - 1]! : 0;
      if (pos[count - 1] === at) {
        if (count === 1) first = flag;
        else if ((first ^ ((count - 2) & 1)) === flag) count--;
      } else if ((first ^ ((count - 1) & 1)) !== flag) pos[count++] = at;
    }
    if (i === n) break;
    const flag = (pk[i]! & 1) === 0 ? 1 : 0;
    if (pos[count - 1] === s) {
      if (count === 1) first = flag;
      else if ((first ^ ((count - 2) & 1)) === flag) count--;
    } else if ((first ^ ((count - 1) & 1)) !== flag) pos[count++] = s;
    stackEnd[sp] = s + 2 ** (32 - (pk[i]! >> 1)) - 1;
    stackFlag[sp++] = flag;
  }
  const lows = new Uint16Array(count);
  const index = new Uint32Array(65537);
  let i = 0;
  for (let b = 0; b <= 65536; b++) {
    while (i < count && pos[i]! < b * 65536) lows[i] = pos[i++]! % 65536;
    index[b] = i;
  }
  return { lows, firstListed: first, index };
}

/** flatten6's boundary count and first answer, in an Int32Array so emit6 can be a plain function (no closure). */
const COUNT = 0;
const FIRST = 1;

/** Adds the 128-bit boundary at[0..3] with answer `flag` (same rules as flatten4). */
function emit6(pos: Uint32Array, st: Int32Array, at: Uint32Array, flag: number): void {
  const count = st[COUNT]!;
  const first = st[FIRST]!;
  const k = (count - 1) * 4;
  if (pos[k] === at[0] && pos[k + 1] === at[1] && pos[k + 2] === at[2] && pos[k + 3] === at[3]) {
    if (count === 1) st[FIRST] = flag;
    else if ((first ^ ((count - 2) & 1)) === flag) st[COUNT] = count - 1;
  } else if ((first ^ ((count - 1) & 1)) !== flag) {
    const j = count * 4;
    pos[j] = at[0]!;
    pos[j + 1] = at[1]!;
    pos[j + 2] = at[2]!;
    pos[j + 3] = at[3]!;
    st[COUNT] = count + 1;
  }
}

function flatten6(table: NetworkTable, now: number, next: { at: number }): Family6 {
  const { n, words, pk, exp } = table.v6;
  // As flatten4, with 128-bit positions (four words each).
  const pos = new Uint32Array((2 * n + 1) * 4);
  const st = new Int32Array(2);
  st[COUNT] = 1; // the boundary at ::, not listed
  const at = new Uint32Array(4);
  const stackEnd = new Uint32Array(260 * 4);
  const stackFlag = new Uint8Array(260);
  let sp = 0;
  for (let i = 0; i <= n; i++) {
    const k = i * 4;
    if (i < n) {
      const e = exp[i]!;
      if (!(e > now)) continue;
      if (e < next.at) next.at = e;
    }
    // Leave every network that ends before this one starts (all of them after the last).
    while (sp > 0) {
      const t = (sp - 1) * 4;
      if (i < n) {
        const a0 = stackEnd[t]!;
        const a1 = stackEnd[t + 1]!;
        const a2 = stackEnd[t + 2]!;
        const before =
          a0 !== words[k] ? a0 < words[k]! : a1 !== words[k + 1] ? a1 < words[k + 1]! : a2 !== words[k + 2] ? a2 < words[k + 2]! : stackEnd[t + 3]! < words[k + 3]!;
        if (!before) break;
      }
      sp--;
      let carry = 1; // at = end + 1, unless end is the last address
      for (let w = 3; w >= 0; w--) {
        const v = stackEnd[t + w]! + carry;
        carry = v > 0xffffffff ? 1 : 0;
        at[w] = v;
      }
      if (carry === 0) emit6(pos, st, at, sp > 0 ? stackFlag[sp - 1]! : 0);
    }
    if (i === n) break;
    const prefix = pk[i]! >> 1;
    const flag = (pk[i]! & 1) === 0 ? 1 : 0;
    at[0] = words[k]!;
    at[1] = words[k + 1]!;
    at[2] = words[k + 2]!;
    at[3] = words[k + 3]!;
    emit6(pos, st, at, flag);
    const t = sp * 4;
    for (let w = 0; w < 4; w++) {
      const bits = prefix - w * 32;
      stackEnd[t + w] = words[k + w]! + (bits >= 32 ? 0 : bits <= 0 ? 0xffffffff : 2 ** (32 - bits) - 1);
    }
    stackFlag[sp++] = flag;
  }
  const count = st[COUNT]!;
  const starts = pos.subarray(0, count * 4); // no copy: the slack is a few bytes a network
  return { starts, n: count, firstListed: st[FIRST]!, ...bucketIndex6(starts, count) };
}

/** Buckets over the first word, spread across the span actually used (most listings sit inside 2000::/3). */
function bucketIndex6(starts: Uint32Array, n: number): { index: Uint32Array; min: number; shift: number; buckets: number } {
  if (n <= 1) return { index: new Uint32Array(1).fill(1), min: 0, shift: 0, buckets: 0 };
  const min = starts[4]!;
  const span = starts[(n - 1) * 4]! - min;
  let shift = 0;
  const limit = v6Buckets(n);
  while (span / 2 ** shift >= limit) shift++;
  const buckets = Math.floor(span / 2 ** shift) + 1;
  const index = new Uint32Array(buckets + 1);
  let i = 1;
  for (let b = 0; b <= buckets; b++) {
    while (i < n && (starts[i * 4]! - min) / 2 ** shift < b) i++;
    index[b] = i;
  }
  return { index, min, shift, buckets };
}
