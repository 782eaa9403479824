/**
 * `export.rbldnsd_1m_ms`: a snapshot of 1M mixed IPv4/IPv6 listings and exclusions, held in memory, turned into
 * the full rbldnsd text and streamed (Readable.from + pipeline, so with backpressure) into a Writable that
 * discards it. Baseline in the same run: JSON.stringify of the same entries (what the snapshot API costs).
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newStats, type ExportSnapshot } from '../../src/features/exports/common.js';
import { postfixChunks } from '../../src/features/exports/postfix.js';
import { rbldnsdChunks } from '../../src/features/exports/rbldnsd.js';
import type { BlockEntry, Exclusion } from '../../src/domain/listing.js';
import { loadPolicy } from '../../src/policy.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number) => Math.round(x * 10) / 10;

/** 1M entries: 60% IPv4 (hosts and /24s), 35% IPv6 (hosts, /64s, /48s), 5% exclusions; some expired. */
export function benchSnapshot(total = 1_000_000): ExportSnapshot {
  const categories = Object.keys(loadPolicy().categories);
  const policy = loadPolicy();
  const listedAt = '2024-05-01T10:00:00.000Z';
  const blocklist: BlockEntry[] = [];
  const exclusions: Exclusion[] = [];
  const hex = (n: number) => (n & 0xffff).toString(16);
  for (let i = 0; i < total; i++) {
    const kind = i % 20;
    const category = categories[i % categories.length]!;
    const expiresAt = i % 10 === 0 ? '2020-01-01T00:00:00.000Z' : i % 3 === 0 ? null : '2999-01-01T00:00:00.000Z';
    if (kind === 19) {
      const v4 = Math.floor(i / 20) % 2 === 0;
      exclusions.push({ cidr: v4 ? `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `2001:db8:${hex(i >> 16)}:${hex(i)}::25`, reason: 'self-delisted', source: 'delist', createdAt: listedAt, expiresAt: null });
      continue;
    }
    let cidr: string;
    if (kind < 8) cidr = `${10 + (i % 200)}.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    else if (kind < 12) cidr = `${10 + (i % 200)}.${(i >> 8) & 255}.${i & 255}.0/24`;
    else if (kind < 16) cidr = `2001:db8:${hex(i >> 16)}:${hex(i)}::${hex(i * 7 + 1)}`;
    else if (kind < 18) cidr = `2a00:${hex(i >> 16)}:${hex(i)}:${hex(i >> 3)}::/64`;
    else cidr = `2a01:${hex(i >> 16)}:${hex(i)}::/48`;
    blocklist.push({ cidr, category, reason: policy.categories[category]!.reason, source: 'bench', listedAt, expiresAt });
  }
  return { version: 123456, generatedAt: new Date().toISOString(), blocklist, exclusions };
}

const discard = () =>
  new Writable({
    decodeStrings: false,
    write(_chunk, _enc, cb) {
      cb();
    },
  });

async function timeStream(make: () => Iterable<string>): Promise<{ ms: number; chars: number }> {
  let chars = 0;
  const counted = function* () {
    for (const chunk of make()) {
      chars += chunk.length;
      yield chunk;
    }
  };
  const t0 = performance.now();
  await pipeline(Readable.from(counted()), discard());
  return { ms: performance.now() - t0, chars };
}

export async function exportBench(_url: string, opts: { rounds?: number; entries?: number } = {}): Promise<Array<[string, number, string]>> {
  const rounds = opts.rounds ?? 3;
  const snapshot = benchSnapshot(opts.entries ?? 1_000_000);
  const categories = loadPolicy().categories;
  const rbldnsd: number[] = [];
  const postfix: number[] = [];
  const json: number[] = [];
  let chars = 0;
  for (let r = 0; r < rounds; r++) {
    const now = new Date();
    const run = await timeStream(() => rbldnsdChunks(snapshot, { publicUrl: 'https://portal.example.net', categories, now, stats: newStats() }));
    rbldnsd.push(run.ms);
    chars = run.chars;
    postfix.push((await timeStream(() => postfixChunks(snapshot, { now }))).ms);
    const t0 = performance.now();
    const text = JSON.stringify({ blocklist: snapshot.blocklist, exclusions: snapshot.exclusions });
    json.push(performance.now() - t0);
    if (text.length === 0) throw new Error('unreachable');
  }
  const ms = median(rbldnsd);
  const base = median(json);
  return [
    ['export.rbldnsd_1m_ms', round(ms), 'ms'],
    ['export.rbldnsd_1m_mb', round(chars / 1e6), 'MB'],
    ['export.postfix_1m_ms', round(median(postfix)), 'ms'],
    ['baseline.json_stringify_1m_ms', round(base), 'ms'],
    ['export.rbldnsd_vs_json_stringify', Math.round((ms / base) * 100) / 100, 'ratio'],
  ];
}

// `node --import tsx test/bench/exports.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [name, value, unit] of await exportBench('')) process.stdout.write(`BENCH ${name} ${value} ${unit}\n`);
}
