/**
 * Blocklist lookups at a million entries (no Redis): the client's matcher against a straightforward baseline
 * (sorted listed ranges + binary search, addresses read by ipaddr.js), measured in the same run on the same data.
 *
 * Data: 1,000,000 entries, 70 % IPv4 / 30 % IPv6 (IPv6 inside 2000::/3), ~10 % exclusions nested in listings,
 * 80 % of listings with an expiry, shaped like the snapshot's entries; lookups: 2^20 string addresses, half inside
 * a listed entry, half random, 70 % IPv4 (a fifth of them written v4-mapped, as a dual-stack socket reports them),
 * 30 % IPv6. Every figure is the median of BENCH_ROUNDS (3) rounds.
 *
 * build_ms: parsed snapshot → NetworkTable → matcher, as the client builds it; snapshot_load_ms adds JSON.parse
 * of the body; feed_update_ms is one feed change merged into the table and the matcher rebuilt. heap_mb is what
 * the client keeps for the blocklist (its NetworkTable and the built matcher): V8 heap plus the ArrayBuffers
 * behind typed arrays, which heapUsed alone does not count. Forced GCs (for heap_mb only) come from global.gc
 * under --expose-gc, else from a gc function exposed at run time via v8.setFlagsFromString: no launch flag needed.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import ipaddr from 'ipaddr.js';
import { compile, type BlocklistMatcher } from '../../src/client/matcher.js';
import { NetworkTable, type CidrEntry } from '../../src/client/network-table.js';

const ENTRIES = Number(process.env.BENCH_LOOKUP_ENTRIES ?? 1_000_000);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 1 << 20);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

function collectGarbage(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** xorshift32: the same data on every run. */
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0);
  };
  return { u32: next, int: (n: number) => next() % n, chance: (p: number) => next() / 2 ** 32 < p };
}
type Rng = ReturnType<typeof prng>;

const v4Text = (v: number) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;

/** RFC 5952 text of four words (longest run of two or more zero groups compressed). */
function v6Text(w: ArrayLike<number>): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(w[i]! >>> 16, w[i]! & 0xffff);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

const maskWord = (word: number, bits: number) => (bits >= 32 ? word >>> 0 : bits <= 0 ? 0 : (word - (word % 2 ** (32 - bits))) >>> 0);

interface Net {
  family: 4 | 6;
  words: number[];
  prefix: number;
}

const netText = (n: Net) => {
  const addr = n.family === 4 ? v4Text(n.words[0]!) : v6Text(n.words);
  return n.prefix === (n.family === 4 ? 32 : 128) ? addr : `${addr}/${n.prefix}`;
};

function pickPrefix(rng: Rng, table: Array<[number, number]>): number {
  let r = rng.int(1000);
  for (const [weight, prefix] of table) if ((r -= weight) < 0) return prefix;
  return table[table.length - 1]![1];
}

const V4_PREFIXES: Array<[number, number]> = [[600, 32], [250, 24], [80, 22], [50, 28], [20, 16]];
const V6_PREFIXES: Array<[number, number]> = [[50, 32], [300, 48], [200, 56], [300, 64], [150, 128]];

function randomV6Words(rng: Rng): number[] {
  return [(0x20000000 + (rng.u32() & 0x1fffffff)) >>> 0, rng.u32(), rng.u32(), rng.u32()];
}

/** A random address inside the network. */
function inside(rng: Rng, n: Net): number[] {
  const bits = n.family === 4 ? 32 : 128;
  return n.words.slice(0, bits / 32).map((w, i) => {
    const netBits = n.prefix - i * 32;
    if (netBits >= 32) return w;
    const host = rng.u32();
    return (maskWord(w, netBits) + (netBits <= 0 ? host : host % 2 ** (32 - netBits))) >>> 0;
  });
}

function network(family: 4 | 6, words: number[], prefix: number): Net {
  return { family, prefix, words: words.map((w, i) => maskWord(w, prefix - i * 32)) };
}

export function generateDataset(total: number, seed = 7) {
  const rng = prng(seed);
  const listings: CidrEntry[] = [];
  const exclusions: CidrEntry[] = [];
  const listedNets: Net[] = [];
  const seen = new Set<string>();
  const expiry = () => (rng.chance(0.8) ? new Date(Date.UTC(2090, 0, 1) + rng.int(86_400_000) * 1000).toISOString() : null);
  const listedAt = new Date(Date.UTC(2089, 11, 1)).toISOString();
  // Entries shaped like the snapshot's (BlockEntry / Exclusion), so parsing and GC cost what they really cost.
  const add = (into: CidrEntry[], n: Net) => {
    const cidr = netText(n);
    if (seen.has(cidr)) return false;
    seen.add(cidr);
    into.push(
      into === listings
        ? ({ cidr, category: 'spam-source', reason: 'Sent spam to our customers.', source: 'trap', listedAt, expiresAt: expiry() } as CidrEntry)
        : ({ cidr, reason: 'delisted by its owner', source: 'self-delist', createdAt: listedAt, expiresAt: null } as CidrEntry),
    );
    return true;
  };
  const nListings = Math.round(total * 0.9);
  while (listings.length < nListings) {
    const v6 = rng.chance(0.3);
    const n = v6 ? network(6, randomV6Words(rng), pickPrefix(rng, V6_PREFIXES)) : network(4, [rng.u32()], pickPrefix(rng, V4_PREFIXES));
    if (add(listings, n)) listedNets.push(n);
  }
  const wide = listedNets.filter((n) => n.prefix < (n.family === 4 ? 32 : 128));
  while (exclusions.length < total - nListings) {
    const parent = wide[rng.int(wide.length)]!;
    const full = parent.family === 4 ? 32 : 128;
    const prefix = rng.chance(0.85) ? full : Math.min(full, parent.prefix + 1 + rng.int(full - parent.prefix));
    add(exclusions, network(parent.family, inside(rng, parent), prefix));
  }
  const ips: string[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const v6 = rng.chance(0.3);
    let words: number[];
    if (rng.chance(0.5)) {
      const pool = listedNets;
      let n = pool[rng.int(pool.length)]!;
      while ((n.family === 6) !== v6) n = pool[rng.int(pool.length)]!;
      words = inside(rng, n);
    } else words = v6 ? randomV6Words(rng) : [rng.u32()];
    const text = v6 ? v6Text(words) : rng.chance(0.2) ? `::ffff:${v4Text(words[0]!)}` : v4Text(words[0]!);
    ips.push(text);
  }
  return { listings, exclusions, ips };
}

/**
 * The baseline: the same listed ranges, sorted, one binary search, addresses read with ipaddr.js (a generic
 * parser). Built from the matcher's own ranges, so both must give the same answers (checked on every round).
 */
function baselineMatcher(m: BlocklistMatcher) {
  const { v4, v6 } = m.listedRanges();
  const s4 = Float64Array.from(v4.map((r) => r[0]));
  const e4 = Float64Array.from(v4.map((r) => r[1]));
  const s6 = v6.map((r) => r[0]);
  const e6 = v6.map((r) => r[1]);
  return (ip: string): boolean => {
    let addr: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      addr = ipaddr.process(ip);
    } catch {
      return false;
    }
    if (addr.kind() === 'ipv4') {
      const x = (addr as ipaddr.IPv4).octets.reduce((a, o) => a * 256 + o, 0);
      let lo = 0;
      let hi = s4.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (s4[mid]! <= x) lo = mid + 1;
        else hi = mid;
      }
      return lo > 0 && x <= e4[lo - 1]!;
    }
    const x = (addr as ipaddr.IPv6).parts.reduce((a, p) => (a << 16n) | BigInt(p), 0n);
    let lo = 0;
    let hi = s6.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s6[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && x <= e6[lo - 1]!;
  };
}

function timeLookups(ips: string[], isBlocked: (ip: string) => boolean): { perSecond: number; hits: number } {
  let hits = 0;
  const t0 = performance.now();
  for (let i = 0; i < ips.length; i++) if (isBlocked(ips[i]!)) hits++;
  const seconds = (performance.now() - t0) / 1000;
  return { perSecond: ips.length / seconds, hits };
}

/** V8 heap plus the ArrayBuffers behind typed arrays (heapUsed alone leaves those out). */
const retained = () => {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

export async function lookupBench(): Promise<Array<[string, number, string]>> {
  const gc = collectGarbage();
  const settle = async () => {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
  };
  const data = generateDataset(ENTRIES);
  // The client's input: a snapshot body. Addresses as flat strings, as a socket's remoteAddress is (the
  // generator's concatenated strings would cost an extra indirection on every read).
  const body = JSON.stringify({ version: 1, generatedAt: new Date().toISOString(), blocklist: data.listings, exclusions: data.exclusions, assignments: [] });
  const ips = JSON.parse(JSON.stringify(data.ips)) as string[];
  data.listings.length = data.exclusions.length = data.ips.length = 0;

  // A build is what the client does with a parsed snapshot (routing-state.ts, buildView): read the two datasets
  // into a NetworkTable, let the parsed JSON go, compile the matcher. JSON.parse itself is timed apart.
  const parsedSnapshot = () => JSON.parse(body) as { blocklist: CidrEntry[]; exclusions: CidrEntry[] };
  const build = (snapshot: { blocklist: CidrEntry[]; exclusions: CidrEntry[] } | null) => {
    const table = NetworkTable.from(snapshot!.blocklist, snapshot!.exclusions);
    snapshot = null;
    return { table, matcher: compile(table, Date.now()) };
  };

  // What the client keeps for the blocklist once built: the table (for feed updates) and the matcher.
  let snapshot: ReturnType<typeof parsedSnapshot> | null = parsedSnapshot();
  await settle();
  const before = retained();
  let built = build(snapshot);
  await settle();
  const heapBytes = retained() - before;
  const m = built.matcher;
  const baseline = baselineMatcher(m);
  snapshot = null;

  const builds: number[] = [];
  const loads: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const s = parsedSnapshot();
    const t1 = performance.now();
    built = build(s);
    const t2 = performance.now();
    builds.push(t2 - t1);
    loads.push(t2 - t0);
  }

  // A feed entry at this size: one change merged into the table, the matcher rebuilt (what a delist costs the client).
  const updates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    compile(built.table.apply([{ cidr: `192.0.2.${r}`, kind: 'listing', expires: null }]), Date.now());
    updates.push(performance.now() - t0);
  }

  const ours: number[] = [];
  const base: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = timeLookups(ips, (ip) => m.isBlocked(ip));
    const b = timeLookups(ips, baseline);
    if (a.hits !== b.hits) throw new Error(`matcher and baseline disagree: ${a.hits} vs ${b.hits} listed`);
    ours.push(a.perSecond);
    base.push(b.perSecond);
  }
  const perSecond = median(ours);
  const basePerSecond = median(base);
  return [
    ['lookup.per_s', Math.round(perSecond), 'lookups/s'],
    ['lookup.build_ms', round(median(builds)), 'ms'],
    ['lookup.heap_mb', round(heapBytes / 2 ** 20), 'MB'],
    ['lookup.snapshot_load_ms', round(median(loads)), 'ms'],
    ['lookup.feed_update_ms', round(median(updates)), 'ms'],
    ['baseline.binary_search_ranges_per_s', Math.round(basePerSecond), 'lookups/s'],
    ['lookup.vs_baseline', round(perSecond / basePerSecond), 'x'],
  ];
}

// Run on its own: `node --import tsx test/bench/lookup.ts`.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [name, value, unit] of await lookupBench()) process.stdout.write(`BENCH ${name} ${value} ${unit}\n`);
}
