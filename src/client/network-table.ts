/**
 * The client's compact copy of a CIDR dataset pair (listings and exclusions): every network parsed once into
 * numbers, sorted by (start, prefix, kind) — parents before their children — with its expiry. About 16 bytes an
 * IPv4 entry and 26 an IPv6 one, instead of a JSON object each. Immutable: `apply` returns a new table, merging a
 * sorted batch of changes in one linear pass, so a feed entry costs O(n) and no re-sort.
 */
import { CIDR_WORDS, cidrFamily, cidrPrefix, parseCidr } from './ip-fast.js';

export type NetworkKind = 'listing' | 'exclusion';

/** A dataset entry as the snapshot and the feed carry it (BlockEntry, Exclusion and AllowEntry all fit). */
export interface CidrEntry {
  cidr: string;
  expiresAt?: string | null;
}

/** One change to the table: set (with its expiry) or remove one network of one kind. */
export interface NetworkChange {
  cidr: string;
  kind: NetworkKind;
  /** Expiry in ms since the epoch; null = never; 'remove' drops the network. */
  expires: number | null | 'remove';
}

const REMOVE = Number.NaN;
const NEVER = Number.POSITIVE_INFINITY;

/** Expiry of an entry in ms (Infinity = never). An unreadable expiry counts as expired, as in decide(). */
export function expiryOf(e: { expiresAt?: string | null }): number {
  if (e.expiresAt === null || e.expiresAt === undefined) return NEVER;
  const t = Date.parse(e.expiresAt);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

/** IPv4 part: key = start * 128 + prefix * 2 + kind (exact in a double), so one number orders an entry. */
export interface V4Part {
  n: number;
  keys: Float64Array;
  exp: Float64Array;
}

/** IPv6 part: four big-endian words a network, then prefix * 2 + kind. */
export interface V6Part {
  n: number;
  words: Uint32Array;
  pk: Uint16Array;
  exp: Float64Array;
}

class Builder {
  v4 = 0;
  v6 = 0;
  skipped: string[] = [];
  constructor(
    public k4: Float64Array,
    public e4: Float64Array,
    public w6: Uint32Array,
    public p6: Uint16Array,
    public e6: Float64Array,
  ) {}

  static withCapacity(n: number): Builder {
    return new Builder(new Float64Array(n), new Float64Array(n), new Uint32Array(n * 4), new Uint16Array(n), new Float64Array(n));
  }

  add(cidr: string, kind: number, exp: number): void {
    if (typeof cidr !== 'string' || !parseCidr(cidr)) {
      if (this.skipped.length < 20) this.skipped.push(String(cidr));
      return;
    }
    if (cidrFamily === 4) {
      if (this.v4 === this.k4.length) [this.k4, this.e4] = [grow(this.k4), grow(this.e4)];
      this.k4[this.v4] = CIDR_WORDS[0]! * 128 + cidrPrefix * 2 + kind;
      this.e4[this.v4++] = exp;
    } else {
      if (this.v6 === this.p6.length) [this.w6, this.p6, this.e6] = [grow(this.w6), grow(this.p6), grow(this.e6)];
      this.w6.set(CIDR_WORDS, this.v6 * 4);
      this.p6[this.v6] = cidrPrefix * 2 + kind;
      this.e6[this.v6++] = exp;
    }
  }

  sorted(): { v4: V4Part; v6: V6Part } {
    return { v4: sortV4(this.v4, this.k4, this.e4), v6: sortV6(this.v6, this.w6, this.p6, this.e6) };
  }
}

function grow<T extends Float64Array | Uint32Array | Uint16Array>(a: T): T {
  const bigger = new (a.constructor as new (n: number) => T)(Math.max(16, a.length * 2));
  bigger.set(a);
  return bigger;
}

/**
 * Stable LSD radix sort over 16-bit digits (least significant pass first); passes whose digit is the same for
 * every element are skipped. Returns the permutation.
 */
function radixOrder(n: number, passes: Array<(i: number) => number>): Uint32Array {
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let tmp = new Uint32Array(n);
  const count = new Uint32Array(65537);
  for (const digit of passes) {
    count.fill(0);
    for (let i = 0; i < n; i++) count[digit(i) + 1]!++;
    if (n === 0 || count.some((c) => c === n)) continue;
    for (let d = 1; d <= 65536; d++) count[d]! += count[d - 1]!;
    for (let i = 0; i < n; i++) {
      const idx = order[i]!;
      tmp[count[digit(idx)]!++] = idx;
    }
    [order, tmp] = [tmp, order];
  }
  return order;
}

/** Sorted by key, and of equal keys only the last one given (a later change wins). */
function sortV4(n: number, keys: Float64Array, exp: Float64Array): V4Part {
  const order = radixOrder(n, [
    (i) => keys[i]! % 128,
    (i) => Math.floor(keys[i]! / 128) & 0xffff,
    (i) => Math.floor(keys[i]! / 8388608), // 128 * 65536
  ]);
  const out: V4Part = { n: 0, keys: new Float64Array(n), exp: new Float64Array(n) };
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    if (out.n > 0 && out.keys[out.n - 1] === keys[i]) out.n--;
    out.keys[out.n] = keys[i]!;
    out.exp[out.n++] = exp[i]!;
  }
  return out;
}

function sortV6(n: number, words: Uint32Array, pk: Uint16Array, exp: Float64Array): V6Part {
  const passes: Array<(i: number) => number> = [(i) => pk[i]!];
  for (let w = 3; w >= 0; w--) passes.push((i) => words[i * 4 + w]! & 0xffff, (i) => words[i * 4 + w]! >>> 16);
  const order = radixOrder(n, passes);
  const out: V6Part = { n: 0, words: new Uint32Array(n * 4), pk: new Uint16Array(n), exp: new Float64Array(n) };
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    if (out.n > 0 && compareV6(out.words, out.pk, out.n - 1, words, pk, i) === 0) out.n--;
    out.words.set(words.subarray(i * 4, i * 4 + 4), out.n * 4);
    out.pk[out.n] = pk[i]!;
    out.exp[out.n++] = exp[i]!;
  }
  return out;
}

function compareV6(aw: Uint32Array, ap: Uint16Array, a: number, bw: Uint32Array, bp: Uint16Array, b: number): number {
  for (let w = 0; w < 4; w++) {
    const x = aw[a * 4 + w]!;
    const y = bw[b * 4 + w]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return ap[a]! - bp[b]!;
}

/** Linear merge of a sorted table with a sorted batch: the batch wins on equal keys; REMOVE drops the entry. */
function mergeV4(base: V4Part, delta: V4Part): V4Part {
  const out: V4Part = { n: 0, keys: new Float64Array(base.n + delta.n), exp: new Float64Array(base.n + delta.n) };
  let i = 0;
  let j = 0;
  while (i < base.n || j < delta.n) {
    let key: number;
    let exp: number;
    if (j >= delta.n || (i < base.n && base.keys[i]! < delta.keys[j]!)) {
      key = base.keys[i]!;
      exp = base.exp[i++]!;
    } else {
      if (i < base.n && base.keys[i] === delta.keys[j]) i++;
      key = delta.keys[j]!;
      exp = delta.exp[j++]!;
      if (Number.isNaN(exp)) continue;
    }
    out.keys[out.n] = key;
    out.exp[out.n++] = exp;
  }
  return out;
}

function mergeV6(base: V6Part, delta: V6Part): V6Part {
  const size = base.n + delta.n;
  const out: V6Part = { n: 0, words: new Uint32Array(size * 4), pk: new Uint16Array(size), exp: new Float64Array(size) };
  let i = 0;
  let j = 0;
  while (i < base.n || j < delta.n) {
    const c = j >= delta.n ? -1 : i >= base.n ? 1 : compareV6(base.words, base.pk, i, delta.words, delta.pk, j);
    let src: V6Part;
    let at: number;
    if (c < 0) {
      src = base;
      at = i++;
    } else {
      if (c === 0) i++;
      src = delta;
      at = j++;
      if (Number.isNaN(delta.exp[at]!)) continue;
    }
    out.words.set(src.words.subarray(at * 4, at * 4 + 4), out.n * 4);
    out.pk[out.n] = src.pk[at]!;
    out.exp[out.n++] = src.exp[at]!;
  }
  return out;
}

/** An immutable, sorted table of listed and excluded networks with their expiries. */
export class NetworkTable {
  private constructor(
    readonly v4: V4Part,
    readonly v6: V6Part,
    /** Keys that could not be read (at most 20 kept), for a warning. */
    readonly skipped: readonly string[],
  ) {}

  static readonly EMPTY = new NetworkTable({ n: 0, keys: new Float64Array(0), exp: new Float64Array(0) }, { n: 0, words: new Uint32Array(0), pk: new Uint16Array(0), exp: new Float64Array(0) }, []);

  /** Parses and sorts whole datasets (a snapshot); an entry's expiry comes from its expiresAt. */
  static from(listings: Iterable<CidrEntry>, exclusions: Iterable<CidrEntry> = []): NetworkTable {
    const size = (x: Iterable<CidrEntry>) => (Array.isArray(x) ? x.length : 1024);
    const b = Builder.withCapacity(size(listings) + size(exclusions));
    for (const e of listings) b.add(e.cidr, 0, expiryOf(e));
    for (const e of exclusions) b.add(e.cidr, 1, expiryOf(e));
    const { v4, v6 } = b.sorted();
    return new NetworkTable(v4, v6, b.skipped);
  }

  /** A new table with the changes applied in order (the last change of a network wins). */
  apply(changes: readonly NetworkChange[]): NetworkTable {
    if (changes.length === 0) return this;
    const b = Builder.withCapacity(changes.length);
    for (const c of changes) b.add(c.cidr, c.kind === 'exclusion' ? 1 : 0, c.expires === 'remove' ? REMOVE : c.expires === null ? NEVER : c.expires);
    const delta = b.sorted();
    return new NetworkTable(mergeV4(this.v4, delta.v4), mergeV6(this.v6, delta.v6), b.skipped);
  }

  get size(): number {
    return this.v4.n + this.v6.n;
  }
}
