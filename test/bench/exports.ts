/**
 * `export.rbldnsd_1m_ms`: a snapshot of 1M mixed IPv4/IPv6 listings and exclusions, held in memory, turned into
 * the full rbldnsd text and streamed (Readable.from + pipeline, so with backpressure) into a Writable that
 * discards it. Baseline in the same run: JSON.stringify of the same entries (what the snapshot API costs).
 */
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newStats, type ExportSnapshot } from '../../src/features/exports/common.js';
import { postfixChunks } from '../../src/features/exports/postfix.js';
import { rbldnsdChunks } from '../../src/features/exports/rbldnsd.js';
import type { BlockEntry, Exclusion } from '../../src/domain/listing.js';
import { loadPolicy } from '../../src/policy.js';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { RoutingStore } from '../../src/stores/routing.js';
import { sign, signingKeyFrom } from '../../src/domain/signing.js';
import { testDb } from '../helpers/db.js';

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

/**
 * Seeds the same mix as benchSnapshot() into the routing tables of a schema of its own, in a few INSERT … SELECT
 * generate_series statements (the containment indexes are dropped first: the snapshot does not use them, and
 * building them row by row would only slow the seeding down).
 */
export async function seedRoutingTables(db: Kysely<Database>, total: number): Promise<void> {
  const policy = loadPolicy();
  const categories = Object.keys(policy.categories);
  const reasons = categories.map((c) => policy.categories[c]!.reason);
  await sql`DROP INDEX blocklist_entries_contains, blocklist_entries_expires, blocklist_exclusions_contains`.execute(db);
  const expires = sql`CASE WHEN i % 10 = 0 THEN '2020-01-01T00:00:00.000Z'::timestamptz WHEN i % 3 = 0 THEN NULL ELSE '2999-01-01T00:00:00.000Z'::timestamptz END`;
  const h = (e: ReturnType<typeof sql>) => sql`to_hex((${e}) & 65535)`;
  await sql`
    INSERT INTO blocklist_entries (cidr, category, reason, source, listed_at, expires_at)
    SELECT (CASE
        WHEN i % 20 < 8 THEN format('%s.%s.%s.%s', 10 + i % 200, (i >> 16) & 255, (i >> 8) & 255, i & 255)
        WHEN i % 20 < 12 THEN format('%s.%s.%s.0/24', 10 + i % 200, (i >> 8) & 255, i & 255)
        WHEN i % 20 < 16 THEN format('2001:db8:%s:%s::%s', ${h(sql`i >> 16`)}, ${h(sql`i`)}, ${h(sql`i * 7 + 1`)})
        WHEN i % 20 < 18 THEN format('2a00:%s:%s:%s::/64', ${h(sql`i >> 16`)}, ${h(sql`i`)}, ${h(sql`i >> 3`)})
        ELSE format('2a01:%s:%s::/48', ${h(sql`i >> 16`)}, ${h(sql`i`)}) END)::cidr,
      (${sql.val(categories)}::text[])[1 + i % ${categories.length}], (${sql.val(reasons)}::text[])[1 + i % ${categories.length}],
      'bench', '2024-05-01T10:00:00.000Z', ${expires}
    FROM generate_series(0, ${total - 1}) AS i WHERE i % 20 <> 19
    ON CONFLICT DO NOTHING`.execute(db);
  await sql`
    INSERT INTO blocklist_exclusions (cidr, reason, source, created_at, expires_at)
    SELECT (CASE WHEN (i / 20) % 2 = 0 THEN format('11.%s.%s.%s', (i >> 16) & 255, (i >> 8) & 255, i & 255)
                 ELSE format('2001:db8:%s:%s::25', ${h(sql`i >> 16`)}, ${h(sql`i`)}) END)::cidr,
      'self-delisted', 'delist', '2024-05-01T10:00:00.000Z', NULL
    FROM generate_series(0, ${total - 1}) AS i WHERE i % 20 = 19
    ON CONFLICT DO NOTHING`.execute(db);
  await sql`ANALYZE blocklist_entries`.execute(db);
  await sql`ANALYZE blocklist_exclusions`.execute(db);
}

/** CPU time (user + system) a process has used, from /proc (Linux; 0 elsewhere), in ms. */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

/**
 * `routing.snapshot_1m_ms`: the snapshot of 1M entries read from PostgreSQL (one REPEATABLE READ transaction) as the
 * JSON body the snapshot API signs and serves, by a store with a cold cache (RoutingStore.snapshotBody()). Beside it, as
 * information: `routing.snapshot_1m_sign_ms`, the Ed25519 signature of that body (once per version, in the route);
 * `export.rbldnsd_1m_from_db_ms`, the same read parsed into objects (RoutingStore.snapshot()) followed by the whole
 * rbldnsd text; and `routing.snapshot_1m_cpu_ms`, the CPU time the snapshot took in this process and in its two PostgreSQL
 * server processes (on a shared, busy machine the wall time says more about the neighbours than about the code).
 */
export async function snapshotBench(opts: { rounds?: number; entries?: number } = {}): Promise<Array<[string, number, string]>> {
  const rounds = opts.rounds ?? 3;
  const total = opts.entries ?? 1_000_000;
  // Two connections (the snapshot reads on two, RoutingStore.readSnapshotBody), so the server processes doing the work
  // are two we can read the CPU time of.
  const t = await testDb({ max: 2 });
  try {
    const t0 = performance.now();
    await seedRoutingTables(t.db, total);
    // VACUUM as autovacuum does after a bulk insert (its insert threshold), so the tables are read as live ones are
    // (hint bits set, visibility map), not with autovacuum starting on them in the middle of a round.
    for (const table of ['blocklist_entries', 'blocklist_exclusions']) await sql`VACUUM (ANALYZE) ${sql.table(table)}`.execute(t.db);
    // Both pool connections at once (each holds its own for a moment), so both server processes are known.
    const pids = await Promise.all([0, 1].map(() => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid, pg_sleep(0.05)`.execute(t.db)));
    const backends = [...new Set(pids.map((r) => r.rows[0]!.pid))];
    const serverCpuMs = () => backends.reduce((n, pid) => n + processCpuMs(pid), 0);
    const seedMs = performance.now() - t0;
    const categories = loadPolicy().categories;
    const snapshotMs: number[] = [];
    const snapshotCpuMs: number[] = [];
    const exportMs: number[] = [];
    const signMs: number[] = [];
    const key = signingKeyFrom({ secret: 'bench' });
    let entries = 0;
    let mb = 0;
    for (let r = 0; r < rounds; r++) {
      const t1 = performance.now();
      const cpu0 = process.cpuUsage();
      const server0 = serverCpuMs();
      const { bytes } = await new RoutingStore(t.db, 1000).snapshotBody();
      snapshotMs.push(performance.now() - t1);
      const cpu = process.cpuUsage(cpu0);
      snapshotCpuMs.push((cpu.user + cpu.system) / 1000 + (serverCpuMs() - server0));
      const t3 = performance.now();
      if (sign(bytes, key).length === 0) throw new Error('unreachable');
      signMs.push(performance.now() - t3);
      mb = bytes.length / 1e6;
      const t2 = performance.now();
      const fresh = await new RoutingStore(t.db, 1000).snapshot();
      entries = fresh.blocklist.length + fresh.exclusions.length;
      await timeStream(() => rbldnsdChunks(fresh, { publicUrl: 'https://portal.example.net', categories, now: new Date(), stats: newStats() }));
      exportMs.push(performance.now() - t2);
    }
    return [
      ['routing.snapshot_1m_ms', round(median(snapshotMs)), 'ms'],
      ['routing.snapshot_1m_cpu_ms', round(median(snapshotCpuMs)), 'ms'],
      ['routing.snapshot_entries', entries, 'entries'],
      ['routing.snapshot_1m_mb', round(mb), 'MB'],
      ['routing.snapshot_1m_sign_ms', round(median(signMs)), 'ms'],
      ['export.rbldnsd_1m_from_db_ms', round(median(exportMs)), 'ms'],
      ['routing.snapshot_seed_1m_ms', round(seedMs), 'ms'],
    ];
  } finally {
    await t.cleanup();
  }
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
  for (const [name, value, unit] of [...(await exportBench('')), ...(await snapshotBench())]) process.stdout.write(`BENCH ${name} ${value} ${unit}\n`);
}
