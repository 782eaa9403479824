/**
 * `npm run bench`: prints `BENCH <name> <value> <unit>` lines. Each figure is the median of several rounds, and
 * each is set against a baseline measured in the same run on the same machine (the machine is shared and noisy).
 */
import { ensureRedis } from '../../src/redis/embedded.js';
import { ensurePostgres } from '../../src/db/embedded.js';
import { propagationBench } from './delist-propagation.js';
import { ingestBench } from './report-ingest.js';
import { staffQueueBench } from './staff-queue.js';
import { exportBench, snapshotBench } from './exports.js';
import { loadBench } from './load.js';
import { lookupBench } from './lookup.js';
import { hostileBench } from './hostile.js';
import { liveStatusBench } from './live-status.js';
import { ndrBench } from './ndr.js';
import { peerParseBench } from './peer-parse.js';
import { tenantDirectoryBench } from './tenants.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const only = process.argv[2];
const redis = await ensureRedis(process.env.REDIS_URL);
process.env.REDIS_URL = redis.url;
// PostgreSQL as the tests find it: each bench works in a schema of its own (test/helpers/db.ts) and drops it.
const postgres = await ensurePostgres(process.env.DATABASE_URL, { dataDir: 'var/postgres-test', database: 'postmaster_test' });
process.env.DATABASE_URL = postgres.url;
const print = (rows: Array<[string, number, string]>) => rows.forEach(([name, value, unit]) => process.stdout.write(`BENCH ${name} ${value} ${unit}\n`));

if (!only || only === 'lookup') print(await lookupBench());
if (!only || only === 'delist') print(await propagationBench({ rounds, requests: Number(process.env.BENCH_REQUESTS ?? 200) }));
if (!only || only === 'report') print(await ingestBench(redis.url, { rounds, reports: Number(process.env.BENCH_REPORTS ?? 2000) }));
if (!only || only === 'staff') print(await staffQueueBench({ tickets: Number(process.env.BENCH_TICKETS ?? 100_000), requests: 30, listings: Number(process.env.BENCH_LISTINGS ?? 1_000_000) }));
if (!only || only === 'export') print(await exportBench(redis.url));
if (!only || only === 'export') print(await snapshotBench({ rounds }));
if (!only || only === 'load') print(await loadBench(redis.url, { rounds: Math.max(rounds, 7), seconds: Number(process.env.BENCH_LOAD_SECONDS ?? 3), warmupSeconds: Number(process.env.BENCH_WARMUP_SECONDS ?? 8), rate: Number(process.env.BENCH_RATE ?? 200), latencySeconds: Number(process.env.BENCH_LATENCY_SECONDS ?? 5), latencyRuns: Number(process.env.BENCH_LATENCY_RUNS ?? 5) }));
if (!only || only === 'peer') print(await peerParseBench({ rounds: Math.max(rounds, 15) }));
if (!only || only === 'hostile') print(await hostileBench(redis.url, { seconds: Number(process.env.BENCH_HOSTILE_SECONDS ?? 5) }));
if (!only || only === 'live') print(await liveStatusBench({ runs: Number(process.env.BENCH_LIVE_RUNS ?? 15), baselineRuns: Number(process.env.BENCH_LIVE_BASELINE_RUNS ?? 5) }));
if (!only || only === 'ndr') print(ndrBench());
if (!only || only === 'tenants') print(await tenantDirectoryBench({ tenants: Number(process.env.BENCH_TENANTS ?? 10_000), lookups: 300 }));
await redis.stop();
await postgres.stop();
process.exit(0);
