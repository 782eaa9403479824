import { createHash } from 'node:crypto';
import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Keys } from '../redis/keys.js';
import { JOBS, QUEUES, type DelistJob, type IngestReportJob, type ExpireEntryJob, type MailKind, type SendMailJob } from './contract.js';

/** Retries with backoff, and enough retention for staff to see why a job failed. */
export const JOB_DEFAULTS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 14 * 24 * 3600 },
};

/** A job to run: its queue, name, fixed id (a second hand-over of it is a no-op), payload of ids, and start time. */
export interface JobIntent {
  queue: string;
  name: string;
  jobId: string;
  data: Record<string, unknown>;
  /** A delayed job runs from this time. */
  runAt?: Date;
}

/**
 * Jobs are produced in one way: an entry in the job outbox table (`job_outbox`), written in the transaction of the
 * change that calls for the job (`…In(trx, …)`), so the record and its job exist together or not at all. The
 * worker's relay (src/jobs/outbox.ts) hands each entry to BullMQ under its fixed id. Job ids derive from request
 * ids, so writing a job twice keeps one entry.
 */
export class JobProducer {
  readonly requests: Queue<DelistJob>;
  readonly mail: Queue<SendMailJob>;
  readonly maintenance: Queue<ExpireEntryJob>;

  /**
   * BullMQ gets its own connection: it defines its scripts (about a hundred) on the connection it is given, and
   * ioredis copies every defined script onto each `multi()`/`pipeline()` it builds.
   */
  private readonly connection: Redis;

  constructor(
    private readonly db: Kysely<Database>,
    redis: Redis,
    keys: Keys,
  ) {
    this.connection = redis.duplicate();
    // Connection errors reach the caller of each add; the event itself only needs a listener (ioredis logs it otherwise).
    this.connection.on('error', () => {});
    const opts = { connection: this.connection, prefix: keys.bullPrefix, defaultJobOptions: JOB_DEFAULTS };
    this.requests = new Queue<DelistJob>(QUEUES.requests, opts);
    this.mail = new Queue<SendMailJob>(QUEUES.mail, opts);
    this.maintenance = new Queue<ExpireEntryJob>(QUEUES.maintenance, opts);
    // A Queue re-emits its connection's errors; without a listener BullMQ prints each one (a stack trace per
    // reconnect attempt while Redis is down). Each add still fails for its caller; the main connection logs the outage.
    for (const q of [this.requests, this.mail, this.maintenance]) q.on('error', () => {});
  }

  delistIntent(requestId: string): JobIntent {
    return { queue: QUEUES.requests, name: JOBS.delist, jobId: `delist-${requestId}`, data: { requestId } satisfies DelistJob };
  }

  ingestReportIntent(requestId: string): JobIntent {
    return { queue: QUEUES.requests, name: JOBS.ingestReport, jobId: `report-${requestId}`, data: { requestId } satisfies IngestReportJob };
  }

  /** One mail per (kind, request, ref): `ref` tells apart two mails of one kind (a result after a review, each reply). */
  mailIntent(kind: MailKind, requestId: string, ref?: string): JobIntent {
    const data: SendMailJob = { kind, requestId, ...(ref && { ref }) };
    return { queue: QUEUES.mail, name: JOBS.sendMail, jobId: `${kind}-${requestId}${ref ? `-${ref}` : ''}`, data: { ...data } };
  }

  /**
   * A delayed job that removes a routing entry when it expires, if it is still the same entry. The id names the
   * expiry too: an entry whose expiry staff changed gets a job for the new time (the old one then finds it renewed).
   */
  expireIntent(job: ExpireEntryJob, expiresAt: string): JobIntent {
    const jobId = `expire-${createHash('sha256').update(`${job.dataset}|${job.key}|${job.stamp}|${expiresAt}`).digest('hex').slice(0, 24)}`;
    return { queue: QUEUES.maintenance, name: JOBS.expireEntry, jobId, data: { ...job }, runAt: new Date(expiresAt) };
  }

  /** Writes the job's outbox entry in the caller's transaction (the same job twice keeps one entry). */
  async addIn(db: Kysely<Database>, intent: JobIntent): Promise<void> {
    await db
      .insertInto('job_outbox')
      .values({ queue: intent.queue, job_name: intent.name, job_id: intent.jobId, payload: JSON.stringify(intent.data), run_at: intent.runAt ?? null })
      .onConflict((oc) => oc.columns(['queue', 'job_id']).doNothing())
      .execute();
  }

  async sendMailIn(db: Kysely<Database>, kind: MailKind, requestId: string, ref?: string): Promise<void> {
    await this.addIn(db, this.mailIntent(kind, requestId, ref));
  }

  /** A mail job on a transaction of its own (a rerun making sure of a mail; a use case with nothing else to commit). */
  async sendMail(kind: MailKind, requestId: string, ref?: string): Promise<void> {
    await this.addIn(this.db, this.mailIntent(kind, requestId, ref));
  }

  /** The delayed expiry job of a routing entry, written in the transaction of the change that sets the expiry. */
  async expireEntryIn(db: Kysely<Database>, job: ExpireEntryJob, expiresAt: string): Promise<void> {
    await this.addIn(db, this.expireIntent(job, expiresAt));
  }

  queueOf(name: string): Queue | undefined {
    return [this.requests, this.mail, this.maintenance].find((q) => q.name === name) as Queue | undefined;
  }

  /** Hands a job to BullMQ (the relay); its fixed id makes a second hand-over a no-op while the job exists. */
  async handOver(intent: JobIntent, now = Date.now()): Promise<void> {
    const queue = this.queueOf(intent.queue);
    if (!queue) throw new Error(`unknown queue ${intent.queue}`);
    await queue.add(intent.name, intent.data, { jobId: intent.jobId, ...(intent.runAt && { delay: Math.max(0, intent.runAt.getTime() - now) }) });
  }

  /** The BullMQ job an entry was handed over as (undefined when gone). */
  async job(queue: string, jobId: string): Promise<Job | undefined> {
    return this.queueOf(queue)?.getJob(jobId);
  }

  async close(): Promise<void> {
    try {
      await Promise.all([this.requests.close(), this.mail.close(), this.maintenance.close()]);
    } finally {
      this.connection.disconnect();
    }
  }
}
