import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Context } from '../src/context.js';
import { JOBS, QUEUES, type DelistJob, type ExpireEntryJob, type SendMailJob } from '../src/jobs/contract.js';
import type { Mailer } from '../src/mail/mailer.js';
import { markDone, OutboxRelay, type RelayOptions } from '../src/jobs/outbox.js';
import { Housekeeping } from '../src/jobs/housekeeping.js';
import { PermanentJobError, processDelist } from './processors/delist.js';
import { processSendMail } from './processors/send-mail.js';
import { processIngestReport } from './processors/ingest-report.js';
import { processExpireEntry } from './processors/expire-entry.js';

/**
 * Runs a job's processor. A permanent error is failed at once with its reason (visible to staff); anything else is
 * retried with backoff. When the job has finished (done, or failed for good: permanent, or its last attempt), its
 * job outbox entry is marked done, so the relay's sweep stops watching it (src/jobs/outbox.ts).
 */
function runJob<T>(ctx: Context, job: Job, fn: () => Promise<T>): Promise<T> {
  const done = () => markDone(ctx.db, job.queueName, job.id!);
  return fn().then(
    async (value) => {
      // The job did its work: a failed mark must not fail it (BullMQ would run it again, a second mail). The sweep
      // marks the entry done when it finds the job completed.
      await done().catch((err: unknown) => ctx.logger.warn({ err: (err as Error).message, queue: job.queueName, jobId: job.id }, 'job outbox: done mark failed; the sweep will mark it'));
      return value;
    },
    async (err: unknown) => {
      const permanent = err instanceof PermanentJobError || err instanceof UnrecoverableError;
      if (permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1)) await done().catch(() => {});
      if (err instanceof PermanentJobError) throw new UnrecoverableError(err.message);
      throw err;
    },
  );
}

/** What the worker role runs: a BullMQ worker per queue and the job outbox's relay; each stops with `close()`. */
export type Runner = Pick<Worker, 'name' | 'close'>;

/**
 * Starts one BullMQ worker per queue on a waiting (maxRetriesPerRequest: null) connection, and the outbox relay
 * (`relay.listen`: its LISTEN connection into the process's schema).
 */
export function startWorkers(ctx: Context, connection: Redis, mailer: Mailer, relay: RelayOptions = {}): Runner[] {
  // A job whose worker died (kill -9) is taken over once its lock lapses: lockDuration, checked every half of it.
  const opts = { connection, prefix: ctx.keys.bullPrefix, lockDuration: ctx.config.workerLockMs, stalledInterval: Math.max(500, Math.floor(ctx.config.workerLockMs / 2)), maxStalledCount: 5 };
  const workers = [
    new Worker<DelistJob>(
      QUEUES.requests,
      (job) => runJob(ctx, job, () => (job.name === JOBS.ingestReport ? processIngestReport(ctx, job.data) : processDelist(ctx, job.data))),
      { ...opts, concurrency: 8 },
    ),
    new Worker<SendMailJob>(QUEUES.mail, (job) => runJob(ctx, job, () => processSendMail(ctx, mailer, job.data)), { ...opts, concurrency: 4 }),
    new Worker<ExpireEntryJob>(QUEUES.maintenance, (job) => runJob(ctx, job, () => processExpireEntry(ctx, job.data)), { ...opts, concurrency: 2 }),
  ];
  for (const w of workers) {
    w.on('failed', (job, err) => ctx.logger.warn({ queue: w.name, jobId: job?.id, attempts: job?.attemptsMade, err: err.message }, 'job failed'));
    w.on('error', (err) => ctx.logger.error({ queue: w.name, err: err.message }, 'worker error'));
  }
  return [...workers, new OutboxRelay(ctx, relay).start(), new Housekeeping(ctx)];
}
