/**
 * The client's compact copy of a CIDR dataset pair (listings and exclusions): every network parsed once into
 * numbers, sorted by (start, prefix, kind) — so a network always comes before the networks inside it — with its
 * expiry. About 13 bytes an IPv4 entry and 26 an IPv6 one, instead of a JSON object each. Immutable: `apply`
 * returns a new table, merging a sorted batch of changes in one linear pass (no re-sort of the million).
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

/**
 * Where readExpiry() leaves its result. A double returned from (or passed to) a function V8 does not inline is
 * boxed on the heap: a million of them per snapshot kept the young generation busy, so results go through here.
 */
const EXPIRY = new Float64Array(1);

/** An entry's expiresAt into EXPIRY[0] in ms: Infinity for never; -Infinity (expired) when unreadable, as in decide(). */
function readExpiry(at: unknown): void {
  if (at === null || at === undefined) EXPIRY[0] = NEVER;
  else if (typeof at !== 'string') EXPIRY[0] = Number.NEGATIVE_INFINITY;
  else {
    parseIsoInto(at);
    if (Number.isNaN(EXPIRY[0]!)) EXPIRY[0] = Number.NEGATIVE_INFINITY;
  }
}

/** Expiry of an entry in ms (Infinity = never). An unreadable expiry counts as expired, as in decide(). */
export function expiryOf(e: { expiresAt?: string | null }): number {
  readExpiry(e.expiresAt);
  return EXPIRY[0]!;
}

/** The two digits at s[i], or a large negative number when they are not digits. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return (a | b | (9 - a) | (9 - b)) < 0 ? -1e9 : a * 10 + b;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Date.parse for the one format the portal writes (toISOString: YYYY-MM-DDTHH:MM:SS.sssZ, years 0000–9999)
 * without the general parser; anything else goes to Date.parse.
 */
export function parseIsoMs(s: string): number {
  parseIsoInto(s);
  return EXPIRY[0]!;
}

/** parseIsoMs into EXPIRY[0]. */
function parseIsoInto(s: string): void {
  if (s.length !== 24 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46 || s.charCodeAt(23) !== 90) {
    EXPIRY[0] = Date.parse(s);
    return;
  }
  const y = twoDigits(s, 0) * 100 + twoDigits(s, 2);
  const mo = twoDigits(s, 5);
  const d = twoDigits(s, 8);
  const h = twoDigits(s, 11);
  const mi = twoDigits(s, 14);
  const se = twoDigits(s, 17);
  const ms = twoDigits(s, 20) * 10 + s.charCodeAt(22) - 48;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > (mo === 2 && leap ? 29 : DAYS_IN_MONTH[mo - 1]!) || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59 || !(ms >= 0 && ms <= 999) || s.charCodeAt(22) < 48 || s.charCodeAt(22) > 57) {
    EXPIRY[0] = Date.parse(s);
    return;
  }
  // Days from 1970-01-01 to the date (proleptic Gregorian; H. Hinnant's days_from_civil).
  const yy = mo <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  EXPIRY[0] = days * 86_400_000 + h * 3_600_000 + mi * 60_000 + se * 1000 + ms;
}

/** IPv4 networks: start address, prefix * 2 + kind (0 listing, 1 exclusion), expiry. */
export interface V4Part {
  n: number;
  start: Uint32Array;
  pk: Uint8Array;
  exp: Float64Array;
}

/** IPv6 networks: four big-endian words each, prefix * 2 + kind, expiry. */
export interface V6Part {
  n: number;
  words: Uint32Array;
  pk: Uint16Array;
  exp: Float64Array;
}

const v4Part = (n: number): V4Part => ({ n: 0, start: new Uint32Array(n), pk: new Uint8Array(n), exp: new Float64Array(n) });
const v6Part = (n: number): V6Part => ({ n: 0, words: new Uint32Array(n * 4), pk: new Uint16Array(n), exp: new Float64Array(n) });

function grow4(p: V4Part): V4Part {
  const q = v4Part(Math.max(16, p.start.length * 2));
  q.start.set(p.start);
  q.pk.set(p.pk);
  q.exp.set(p.exp);
  q.n = p.n;
  return q;
}

function grow6(p: V6Part): V6Part {
  const q = v6Part(Math.max(16, p.pk.length * 2));
  q.words.set(p.words);
  q.pk.set(p.pk);
  q.exp.set(p.exp);
  q.n = p.n;
  return q;
}

/** Parsed networks in the order given. */
class Collector {
  skipped: string[] = [];
  private constructor(
    public v4: V4Part,
    public v6: V6Part,
  ) {}

  static sizedFor(v4: number, v6: number): Collector {
    return new Collector(v4Part(v4), v6Part(v6));
  }

  /** Adds a network of the given kind whose expiry is in EXPIRY[0] (see readExpiry). */
  add(cidr: string, kind: number): void {
    const exp = EXPIRY[0]!;
    if (typeof cidr !== 'string' || !parseCidr(cidr)) {
      if (this.skipped.length < 20) this.skipped.push(String(cidr));
      return;
    }
    if (cidrFamily === 4) {
      if (this.v4.n === this.v4.pk.length) this.v4 = grow4(this.v4);
      const q = this.v4;
      q.start[q.n] = CIDR_WORDS[0]!;
      q.pk[q.n] = cidrPrefix * 2 + kind;
      q.exp[q.n++] = exp;
    } else {
      if (this.v6.n === this.v6.pk.length) this.v6 = grow6(this.v6);
      const q = this.v6;
      const k = q.n * 4;
      q.words[k] = CIDR_WORDS[0]!;
      q.words[k + 1] = CIDR_WORDS[1]!;
      q.words[k + 2] = CIDR_WORDS[2]!;
      q.words[k + 3] = CIDR_WORDS[3]!;
      q.pk[q.n] = cidrPrefix * 2 + kind;
      q.exp[q.n++] = exp;
    }
  }
}

/** Indexes fit in 25 bits of a packed sort key (32 million networks of one family). */
const INDEX_BITS = 25;
const INDEX_MASK = 2 ** INDEX_BITS - 1;

/**
 * Sorts by a packed 64-bit key whose low 25 bits are the element's index: the native typed-array sort (no
 * comparator calls), stable because equal keys differ in their index. Keys are written through a Uint32Array
 * view (no BigInt is ever created): `pack(i, words, 2 * i)` fills the low word words[2i] and the high word
 * words[2i + 1] (little-endian, as every platform Node runs on). Returns the view of the sorted keys.
 */
function sortPacked(n: number, pack: (i: number, words: Uint32Array, at: number) => void): Uint32Array {
  const keys = new BigUint64Array(n);
  const words = new Uint32Array(keys.buffer);
  for (let i = 0; i < n; i++) pack(i, words, 2 * i);
  keys.sort();
  return words;
}

/** Sorted by (start, pk) into new arrays; of equal networks only the last one given is kept (a later change wins). */
function sortV4(p: V4Part): V4Part {
  const n = p.n;
  if (n > INDEX_MASK) throw new RangeError(`too many IPv4 networks (${n})`);
  const { start, pk, exp } = p;
  // key: start (32 bits) | pk (7 bits) | index (25 bits)
  const keys = sortPacked(n, (i, w, at) => {
    w[at] = (pk[i]! * 2 ** INDEX_BITS + i) >>> 0;
    w[at + 1] = start[i]!;
  });
  const out = v4Part(n);
  let m = 0;
  for (let r = 0; r < n; r++) {
    const low = keys[2 * r]!;
    const s = keys[2 * r + 1]!;
    const k = low >>> INDEX_BITS;
    if (m > 0 && out.start[m - 1] === s && out.pk[m - 1] === k) m--;
    out.start[m] = s;
    out.pk[m] = k;
    out.exp[m++] = exp[low & INDEX_MASK]!;
  }
  out.n = m;
  return out;
}

/**
 * Sorted by (128-bit start, pk) into new arrays; of equal networks only the last one given is kept. The packed
 * key holds the top 39 address bits; each run of networks sharing them (nested networks, or many inside one
 * /39) is then put in order by a comparison sort of that run alone.
 */
function sortV6(p: V6Part): V6Part {
  const n = p.n;
  if (n > INDEX_MASK) throw new RangeError(`too many IPv6 networks (${n})`);
  const { words: a, pk, exp } = p;
  // key: address bits 0–38 (w0 and the top 7 bits of w1) | index (25 bits)
  const keys = sortPacked(n, (i, w, at) => {
    w[at] = ((a[i * 4 + 1]! >>> 25) * 2 ** INDEX_BITS + i) >>> 0;
    w[at + 1] = a[i * 4]!;
  });
  const order = new Uint32Array(n);
  for (let r = 0; r < n; r++) order[r] = keys[2 * r]! & INDEX_MASK;
  const full = (i: number, j: number) =>
    a[i * 4]! - a[j * 4]! || a[i * 4 + 1]! - a[j * 4 + 1]! || a[i * 4 + 2]! - a[j * 4 + 2]! || a[i * 4 + 3]! - a[j * 4 + 3]! || pk[i]! - pk[j]! || i - j;
  let r = 1;
  while (r < n) {
    const hi = keys[2 * r - 1]!;
    const top = keys[2 * r - 2]! >>> INDEX_BITS;
    let end = r;
    while (end < n && keys[2 * end + 1] === hi && keys[2 * end]! >>> INDEX_BITS === top) end++;
    if (end - r >= 16) order.set(Array.from(order.subarray(r - 1, end)).sort(full), r - 1);
    else {
      // Mostly pairs (an exclusion inside its listing): insertion sort in place.
      for (let x = r; x < end; x++) {
        const v = order[x]!;
        let y = x - 1;
        for (; y >= r - 1 && full(order[y]!, v) > 0; y--) order[y + 1] = order[y]!;
        order[y + 1] = v;
      }
    }
    r = end + 1;
  }
  const out = v6Part(n);
  const b = out.words;
  let m = 0;
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    const k = i * 4;
    if (m > 0) {
      const j = (m - 1) * 4;
      if (b[j] === a[k] && b[j + 1] === a[k + 1] && b[j + 2] === a[k + 2] && b[j + 3] === a[k + 3] && out.pk[m - 1] === pk[i]) m--;
    }
    const j = m * 4;
    b[j] = a[k]!;
    b[j + 1] = a[k + 1]!;
    b[j + 2] = a[k + 2]!;
    b[j + 3] = a[k + 3]!;
    out.pk[m] = pk[i]!;
    out.exp[m++] = exp[i]!;
  }
  out.n = m;
  return out;
}

/** Linear merge of a sorted table with a sorted batch: the batch wins on equal keys; REMOVE drops the entry. */
function mergeV4(base: V4Part, delta: V4Part): V4Part {
  const out = v4Part(base.n + delta.n);
  let i = 0;
  let j = 0;
  let m = 0;
  while (i < base.n || j < delta.n) {
    let c: number;
    if (j >= delta.n) c = -1;
    else if (i >= base.n) c = 1;
    else c = base.start[i]! - delta.start[j]! || base.pk[i]! - delta.pk[j]!;
    let src: V4Part;
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
    out.start[m] = src.start[at]!;
    out.pk[m] = src.pk[at]!;
    out.exp[m++] = src.exp[at]!;
  }
  out.n = m;
  return out;
}

function compare6(a: V6Part, i: number, b: V6Part, j: number): number {
  const x = a.words;
  const y = b.words;
  const k = i * 4;
  const l = j * 4;
  return x[k]! - y[l]! || x[k + 1]! - y[l + 1]! || x[k + 2]! - y[l + 2]! || x[k + 3]! - y[l + 3]! || a.pk[i]! - b.pk[j]!;
}

function mergeV6(base: V6Part, delta: V6Part): V6Part {
  const out = v6Part(base.n + delta.n);
  let i = 0;
  let j = 0;
  let m = 0;
  while (i < base.n || j < delta.n) {
    const c = j >= delta.n ? -1 : i >= base.n ? 1 : compare6(base, i, delta, j);
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
    const from = at * 4;
    const to = m * 4;
    out.words[to] = src.words[from]!;
    out.words[to + 1] = src.words[from + 1]!;
    out.words[to + 2] = src.words[from + 2]!;
    out.words[to + 3] = src.words[from + 3]!;
    out.pk[m] = src.pk[at]!;
    out.exp[m++] = src.exp[at]!;
  }
  out.n = m;
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

  static readonly EMPTY = new NetworkTable(v4Part(0), v6Part(0), []);

  /** Parses and sorts whole datasets (a snapshot); an entry's expiry comes from its expiresAt. */
  static from(listings: Iterable<CidrEntry>, exclusions: Iterable<CidrEntry> = []): NetworkTable {
    // Sized without a counting pass (touching a million snapshot objects twice costs more than a spare array):
    // room for all of them as IPv4, half as IPv6; the IPv6 arrays grow beyond that.
    const total = (Array.isArray(listings) ? listings.length : 1024) + (Array.isArray(exclusions) ? exclusions.length : 0);
    const c = Collector.sizedFor(total, Math.max(16, total >>> 1));
    for (const e of listings) {
      readExpiry(e.expiresAt);
      c.add(e.cidr, 0);
    }
    for (const e of exclusions) {
      readExpiry(e.expiresAt);
      c.add(e.cidr, 1);
    }
    return new NetworkTable(sortV4(c.v4), sortV6(c.v6), c.skipped);
  }

  /** A new table with the changes applied in order (the last change of a network wins). */
  apply(changes: readonly NetworkChange[]): NetworkTable {
    if (changes.length === 0) return this;
    const c = Collector.sizedFor(changes.length, changes.length);
    for (const ch of changes) {
      EXPIRY[0] = ch.expires === 'remove' ? REMOVE : ch.expires === null ? NEVER : ch.expires;
      c.add(ch.cidr, ch.kind === 'exclusion' ? 1 : 0);
    }
    return new NetworkTable(mergeV4(this.v4, sortV4(c.v4)), mergeV6(this.v6, sortV6(c.v6)), c.skipped);
  }

  get size(): number {
    return this.v4.n + this.v6.n;
  }
}
