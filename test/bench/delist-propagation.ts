import type { AddressInfo } from 'node:net';
import type { Kysely } from 'kysely';
import pg from 'pg';
import { clientConfig, notifyChannel, type DbOptions } from '../../src/db/connection.js';
import type { Database } from '../../src/db/schema.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { createMailer } from '../../src/mail/mailer.js';
import { createRedis } from '../../src/redis/connection.js';
import { createApp } from '../../src/app.js';
import { createRoutingClient } from '../../src/client/index.js';
import { startWorkers } from '../../worker/workers.js';
import { testContext } from '../helpers/context.js';
import { testDatabaseUrl } from '../helpers/db.js';
import { delistToken, requestIdsAt, listenOptions } from '../helpers/portal.js';

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);
const round = (x: number) => Math.round(x * 100) / 100;

/**
 * Waits for feed entries by the keys they change: LISTEN on the feed's channel (the routing_feed trigger notifies at
 * commit), then reads the rows after the last version seen.
 */
async function feedWatcher(db: Kysely<Database>, options: DbOptions, schema: string) {
  const waiters = new Map<string, (at: number) => void>();
  const listener = new pg.Client(clientConfig(options));
  await listener.connect();
  let last = (await db.selectFrom('routing_state').select('version').executeTakeFirstOrThrow()).version;
  let reading: Promise<void> = Promise.resolve();
  const read = async () => {
    const rows = await db.selectFrom('routing_feed').select(['version', 'changes']).where('version', '>', last).orderBy('version').execute();
    const now = performance.now();
    for (const row of rows) {
      last = row.version;
      for (const c of row.changes as Array<{ key: string }>) waiters.get(c.key)?.(now);
    }
  };
  listener.on('notification', () => (reading = reading.then(read)));
  await listener.query(`LISTEN ${listener.escapeIdentifier(notifyChannel(schema, 'routing_feed'))}`);
  return {
    waitFor: (key: string) => new Promise<number>((resolve) => waiters.set(key, resolve)),
    stop: async () => {
      await reading;
      await listener.end();
    },
  };
}

/** Baseline: one NOTIFY seen by a LISTEN on another connection, the floor of any feed propagation. */
async function notifyRoundtrip(options: DbOptions, n: number): Promise<number[]> {
  const writer = new pg.Client(clientConfig(options));
  const reader = new pg.Client(clientConfig(options));
  await Promise.all([writer.connect(), reader.connect()]);
  const channel = `pm_bench_${process.pid}`;
  let seen: ((at: number) => void) | null = null;
  reader.on('notification', () => seen?.(performance.now()));
  await reader.query(`LISTEN ${channel}`);
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const at = new Promise<number>((resolve) => (seen = resolve));
    const t0 = performance.now();
    await writer.query(`NOTIFY ${channel}`);
    times.push((await at) - t0);
  }
  await Promise.all([writer.end(), reader.end()]);
  return times;
}

/**
 * Delist IP pressed (a real HTTP POST with its CSRF token) → the removal is in the change feed, and → the
 * reference client (polling every 50 ms) has swapped in a matcher where the IP is no longer blocked.
 */
export async function propagationBench(opts: { rounds: number; requests: number }): Promise<Array<[string, number, string]>> {
  const handle = { url: process.env.REDIS_URL! };
  const p99s: number[] = [];
  const p50s: number[] = [];
  const baselines: number[] = [];
  const clientP50s: number[] = [];
  const clientP99s: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const ctx = testContext({ policy: (p) => ({ ...p, rateLimits: Object.fromEntries(Object.entries(p.rateLimits).map(([k]) => [k, { max: 1_000_000, windowMinutes: 1 }])) as typeof p.rateLimits }) });
    const workerConn = createRedis(handle.url, 'worker');
    const mailer = createMailer({ smtpUrl: undefined, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
    const workers = startWorkers(ctx, workerConn, mailer, { listen: await listenOptions(ctx) });
    const server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const options: DbOptions = { url: await testDatabaseUrl(), searchPath: ctx.schema };
    await ctx.routing.version(); // the schema is made on first use
    const watcher = await feedWatcher(ctx.db, options, ctx.schema);

    // Arrange: listed IPs, each with a confirmed email challenge and the confirm page opened (outside the timing).
    const pending: Array<{ ip: string; path: string; cookie: string; csrf: string }> = [];
    for (let i = 0; i < opts.requests; i++) {
      const ip = `198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
      await addListing(ctx, { target: ip, category: 'spam-source', source: 'bench', by: 'bench' });
      const now = new Date(Date.now() + i);
      await requestDelist(ctx, { email: `bench${i}@example.com`, ip }, now);
      const id = (await requestIdsAt(ctx, now))[0]!;
      const token = await delistToken(ctx, id);
      const page = await fetch(`${base}/delist/confirm/${token}`);
      const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
      pending.push({ ip, path: `/delist/confirm/${token}`, cookie, csrf });
    }

    // The reference client, as an MTA would run it, polling the feed every 50 ms.
    const token = await ctx.apiTokens.create('bench');
    const publicKey = await (await fetch(`${base}/api/v1/routing/public-key`)).text();
    const client = createRoutingClient({ baseUrl: base, token, publicKey, pollMs: 50 }).start();
    await client.ready;

    const times: number[] = [];
    const clientTimes: number[] = [];
    for (const p of pending) {
      const seen = watcher.waitFor(p.ip);
      const swapped = new Promise<number>((resolve) => {
        const onSwap = () => {
          if (!client.isBlocked(p.ip)) {
            client.off('swap', onSwap as never);
            resolve(performance.now());
          }
        };
        client.on('swap', onSwap);
      });
      const t0 = performance.now();
      const res = await fetch(base + p.path, { method: 'POST', redirect: 'manual', headers: { cookie: p.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(p.csrf)}` });
      if (res.status !== 303) throw new Error(`confirm answered ${res.status}`);
      times.push((await seen) - t0);
      clientTimes.push((await swapped) - t0);
    }
    await client.stop();
    p50s.push(median(times));
    p99s.push(quantile(times, 0.99));
    clientP50s.push(median(clientTimes));
    clientP99s.push(quantile(clientTimes, 0.99));
    baselines.push(quantile(await notifyRoundtrip(options, opts.requests), 0.99));

    await watcher.stop();
    await new Promise((resolve) => server.close(resolve));
    await Promise.all(workers.map((w) => w.close()));
    workerConn.disconnect();
    await ctx.cleanup();
  }
  const p99 = median(p99s);
  const baseline = median(baselines);
  return [
    ['delist.propagation_p99_ms', round(median(clientP99s)), 'ms'],
    ['delist.propagation_p50_ms', round(median(clientP50s)), 'ms'],
    ['delist.feed_p99_ms', round(p99), 'ms'],
    ['delist.feed_p50_ms', round(median(p50s)), 'ms'],
    ['baseline.pg_notify_roundtrip_p99_ms', round(baseline), 'ms'],
    ['delist.feed_p99_vs_baseline', round(p99 / baseline), 'ratio'],
    ['delist.propagation_requests', opts.requests * opts.rounds, 'requests'],
  ];
}
