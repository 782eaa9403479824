import { createHash } from 'node:crypto';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { JOBS, QUEUES, type DelistJob, type IngestReportJob, type ExpireEntryJob, type MailKind, type SendMailJob } from './contract.js';
import type { JobIntent } from './outbox.js';

/** Retries with backoff, and enough retention for staff to see why a job failed. */
const DEFAULTS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 14 * 24 * 3600 },
};

/** The only producer of jobs. Job ids derive from request ids, so enqueuing twice adds one job. */
export class JobProducer {
  readonly requests: Queue<DelistJob>;
  readonly mail: Queue<SendMailJob>;
  readonly maintenance: Queue<ExpireEntryJob>;

  /**
   * BullMQ gets its own connection: it defines its scripts (about a hundred) on the connection it is given, and
   * ioredis copies every defined script onto each `multi()`/`pipeline()` it builds, which tripled the cost of every
   * transaction of the stores that share the main connection.
   */
  private readonly connection: Redis;

  constructor(redis: Redis, keys: Keys) {
    this.connection = redis.duplicate();
    // Connection errors reach the caller of each add; the event itself only needs a listener (ioredis logs it otherwise).
    this.connection.on('error', () => {});
    const opts = { connection: this.connection, prefix: keys.bullPrefix, defaultJobOptions: DEFAULTS };
    this.requests = new Queue<DelistJob>(QUEUES.requests, opts);
    this.mail = new Queue<SendMailJob>(QUEUES.mail, opts);
    this.maintenance = new Queue<ExpireEntryJob>(QUEUES.maintenance, opts);
    // A Queue re-emits its connection's errors; without a listener BullMQ prints each one (a stack trace per
    // reconnect attempt while Redis is down). Each add still fails for its caller; the main connection logs the outage.
    for (const q of [this.requests, this.mail, this.maintenance]) q.on('error', () => {});
  }

  /** The delist job as an outbox entry (the confirm step writes it with the state change). */
  delistIntent(requestId: string): JobIntent {
    return { queue: QUEUES.requests, name: JOBS.delist, jobId: `delist-${requestId}`, data: JSON.stringify({ requestId } satisfies DelistJob) };
  }

  async ingestReport(requestId: string): Promise<void> {
    await this.addIntent(this.ingestReportIntent(requestId));
  }

  /** The ingest job as an outbox entry (the web report's confirm step writes it with the state change). */
  ingestReportIntent(requestId: string): JobIntent {
    return { queue: QUEUES.requests, name: JOBS.ingestReport, jobId: `report-${requestId}`, data: JSON.stringify({ requestId } satisfies IngestReportJob) };
  }

  /** One mail per (kind, request, ref): `ref` tells apart two mails of one kind (a result after a review, each reply). */
  async sendMail(kind: MailKind, requestId: string, ref?: string): Promise<void> {
    await this.addIntent(this.mailIntent(kind, requestId, ref));
  }

  /** The same mail job as an outbox entry, for a script that writes it together with its request. */
  mailIntent(kind: MailKind, requestId: string, ref?: string): JobIntent {
    const data: SendMailJob = { kind, requestId, ...(ref && { ref }) };
    return { queue: QUEUES.mail, name: JOBS.sendMail, jobId: `${kind}-${requestId}${ref ? `-${ref}` : ''}`, data: JSON.stringify(data) };
  }

  /** Adds the job an outbox entry describes (the relay); its fixed id makes a second add a no-op. */
  async addIntent(intent: JobIntent): Promise<void> {
    const queue = [this.requests, this.mail, this.maintenance].find((q) => q.name === intent.queue);
    if (!queue) throw new Error(`unknown queue ${intent.queue}`);
    await (queue as Queue).add(intent.name, JSON.parse(intent.data), { jobId: intent.jobId });
  }

  /** A delayed job that removes a routing entry when it expires (published to the feed like any change). */
  async expireEntry(job: ExpireEntryJob, expiresAt: string, now = new Date()): Promise<void> {
    const jobId = `expire-${createHash('sha256').update(`${job.dataset}|${job.key}|${job.stamp}`).digest('hex').slice(0, 24)}`;
    await this.maintenance.add(JOBS.expireEntry, job, { jobId, delay: Math.max(0, Date.parse(expiresAt) - now.getTime()) });
  }

  async close(): Promise<void> {
    try {
      await Promise.all([this.requests.close(), this.mail.close(), this.maintenance.close()]);
    } finally {
      this.connection.disconnect();
    }
  }
}
