import type { Redis } from 'ioredis';
import { createApp } from '../../src/app.js';
import { createMailer, type Mailer } from '../../src/mail/mailer.js';
import { createRedis } from '../../src/redis/connection.js';
import { startWorkers, type Runner } from '../../worker/workers.js';
import { OutboxRelay } from '../../src/jobs/outbox.js';
import type { Context } from '../../src/context.js';
import { REDIS_URL, testContext, type TestContext } from './context.js';
import { testDatabaseUrl } from './db.js';
import type { DbOptions } from '../../src/db/connection.js';
import { startSmtpSink } from './smtp.js';
import type { Policy } from '../../src/policy.js';

/** The whole portal on a real Redis: the web app, the BullMQ workers, and a real SMTP server receiving the mail. */
export async function startPortal(opts: { policy?: (p: Policy) => Policy } = {}) {
  const smtp = await startSmtpSink();
  const ctx: TestContext = testContext({ env: { SMTP_URL: smtp.url }, ...(opts.policy && { policy: opts.policy }) });
  const workerConnection: Redis = createRedis(REDIS_URL, 'worker');
  const mailer: Mailer = createMailer({ smtpUrl: smtp.url, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
  const workers: Runner[] = startWorkers(ctx, workerConnection, mailer, { listen: await listenOptions(ctx), sweepMs: 1000, sweepAfterMs: 1000 });
  const app = createApp(ctx);
  return {
    ctx,
    app,
    smtp,
    async stop() {
      await Promise.all(workers.map((w) => w.close()));
      mailer.close();
      await workerConnection.quit();
      await ctx.cleanup();
      await smtp.close();
    },
  };
}

/** Polls until `check` returns a value (for states a worker reaches asynchronously). */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A LISTEN connection into the test context's schema (the job outbox relay's wake-up). */
export async function listenOptions(ctx: TestContext): Promise<DbOptions> {
  return { url: await testDatabaseUrl(), searchPath: ctx.schema };
}

/** Relays what the job outbox holds into BullMQ, as a worker's relay would (for tests that run no worker). */
export async function relayOutbox(ctx: Context): Promise<number> {
  return new OutboxRelay(ctx).drain();
}

/** The link token of a request's challenge, as its challenge mail carries it (the challenge is made with the request). */
export async function challengeToken(ctx: Context, requestId: string): Promise<string> {
  const request = await ctx.requests.get(requestId);
  if (!request?.challengeId) throw new Error(`no challenge for request ${requestId}`);
  return ctx.challenges.tokenFor(request.challengeId);
}

/** Kept for the tests written before issue 14: the delist challenge now exists with its request. */
export const delistToken = challengeToken;

/** The ids of the stored requests, oldest first (what the by-time index gave before issue 14). */
export async function storedRequestIds(ctx: Context): Promise<string[]> {
  return (await ctx.db.selectFrom('requests').select('id').orderBy('created_at').orderBy('id').execute()).map((r) => r.id);
}

/** The entries of the job outbox table, oldest first. */
export async function outboxEntries(ctx: Context) {
  return ctx.db.selectFrom('job_outbox').selectAll().orderBy('id').execute();
}

/** The ids of the requests made at exactly `at` (a test that passes its own clock finds its request by it). */
export async function requestIdsAt(ctx: Context, at: Date): Promise<string[]> {
  return (await ctx.db.selectFrom('requests').select('id').where('created_at', '=', at).orderBy('id').execute()).map((r) => r.id);
}
