import type { Redis } from 'ioredis';
import { createApp } from '../../src/app.js';
import { createMailer, type Mailer } from '../../src/mail/mailer.js';
import { createRedis } from '../../src/redis/connection.js';
import { startWorkers, type Runner } from '../../worker/workers.js';
import { OutboxRelay } from '../../src/jobs/outbox.js';
import type { Context } from '../../src/context.js';
import { REDIS_URL, testContext, type TestContext } from './context.js';
import { startSmtpSink } from './smtp.js';
import type { Policy } from '../../src/policy.js';

/** The whole portal on a real Redis: the web app, the BullMQ workers, and a real SMTP server receiving the mail. */
export async function startPortal(opts: { policy?: (p: Policy) => Policy } = {}) {
  const smtp = await startSmtpSink();
  const ctx: TestContext = testContext({ env: { SMTP_URL: smtp.url }, ...(opts.policy && { policy: opts.policy }) });
  const workerConnection: Redis = createRedis(REDIS_URL, 'worker');
  const mailer: Mailer = createMailer({ smtpUrl: smtp.url, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
  const workers: Runner[] = startWorkers(ctx, workerConnection, mailer);
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

/** Relays what the job outbox holds into BullMQ, as a worker's relay would (for tests that run no worker). */
export async function relayOutbox(ctx: Context): Promise<number> {
  const relay = new OutboxRelay(ctx, ctx.redis);
  try {
    return await relay.drain();
  } finally {
    await relay.close();
  }
}

/**
 * The link token of a delist request, as its challenge mail carries it. The worker that sends that mail makes the
 * challenge first (ChallengeStore.ensure); a test that runs no worker takes the same step here.
 */
export async function delistToken(ctx: Context, requestId: string): Promise<string> {
  const request = await ctx.requests.get(requestId);
  if (!request) throw new Error(`no request ${requestId}`);
  return ctx.challenges.ensure(request, ctx.policy.challenge.ttlMinutes);
}
