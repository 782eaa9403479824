import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Context } from '../context.js';
import { QUEUES } from './contract.js';

/**
 * The job outbox: a Redis Stream of jobs to enqueue, written in the same script as the state change that calls
 * for them, so a request and its job exist together or not at all. The relay (worker role) moves each entry
 * into its BullMQ queue and then acknowledges and deletes it. Job ids are fixed by the entry, so an entry
 * relayed twice (a relay killed between add and ack) still makes one job.
 *
 * The web role's busiest path (POST /delist) writes here instead of calling BullMQ itself: one Redis script
 * per submission instead of two round trips, and no BullMQ work in the web process.
 */
export interface JobIntent {
  queue: string;
  name: string;
  jobId: string;
  /** The job's payload as JSON (ids only, like every job). */
  data: string;
}

export const OUTBOX_GROUP = 'relay';

/** The XADD field list of an intent (scripts append it to the outbox stream). */
export const intentFields = (i: JobIntent): string[] => ['queue', i.queue, 'name', i.name, 'jobId', i.jobId, 'data', i.data];

/** Queues the outbox entry of `intent` on a transaction, so the job is written with the state change that calls for it. */
export function outboxIn(tx: ChainableCommander, outboxKey: string, intent: JobIntent): void {
  tx.xadd(outboxKey, '*', ...intentFields(intent));
}

type Entry = [id: string, fields: string[] | null];

function intentOf(fields: string[] | null): JobIntent | null {
  if (!fields) return null;
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  if (!f.queue || !(Object.values(QUEUES) as string[]).includes(f.queue) || !f.name || !f.jobId || f.data === undefined) return null;
  try {
    JSON.parse(f.data);
  } catch {
    return null;
  }
  return { queue: f.queue, name: f.name, jobId: f.jobId, data: f.data };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Relays outbox entries into BullMQ. Relays in several worker processes share the stream through one consumer
 * group; an entry left pending by a relay that died is claimed by another once it has been idle for
 * `claimIdleMs` (the worker lock duration, as for BullMQ's stalled jobs).
 */
export class OutboxRelay {
  readonly name = 'job-outbox';
  private readonly consumer = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private readonly reader: Redis;
  private running = false;
  private loop: Promise<void> | null = null;
  private groupReady = false;
  private lastClaim = 0;

  constructor(
    private readonly ctx: Context,
    connection: Redis,
    private readonly opts: { blockMs?: number; claimIdleMs?: number; batch?: number } = {},
  ) {
    // Blocking reads hold their connection: the relay gets one of its own.
    this.reader = connection.duplicate();
    this.reader.on('error', () => {});
  }

  private get key() {
    return this.ctx.keys.jobOutbox;
  }

  start(): this {
    this.running = true;
    this.loop = this.run();
    return this;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.ensureGroup();
        if (Date.now() - this.lastClaim >= (this.opts.claimIdleMs ?? this.ctx.config.workerLockMs) / 2) await this.claimStale();
        const read = (await this.reader.xreadgroup('GROUP', OUTBOX_GROUP, this.consumer, 'COUNT', this.opts.batch ?? 100, 'BLOCK', this.opts.blockMs ?? 2000, 'STREAMS', this.key, '>')) as Array<[string, Entry[]]> | null;
        if (read?.[0]) await this.relay(read[0][1]);
      } catch (err) {
        if (!this.running) break;
        this.ctx.logger.warn({ err: (err as Error).message }, 'job outbox relay: retrying');
        await sleep(1000);
      }
    }
  }

  private async ensureGroup(): Promise<void> {
    if (this.groupReady) return;
    try {
      await this.ctx.redis.xgroup('CREATE', this.key, OUTBOX_GROUP, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
    this.groupReady = true;
  }

  /** Takes over entries another relay read but never acknowledged (it died), and relays them. */
  private async claimStale(): Promise<void> {
    this.lastClaim = Date.now();
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.ctx.redis.xautoclaim(this.key, OUTBOX_GROUP, this.consumer, this.opts.claimIdleMs ?? this.ctx.config.workerLockMs, cursor, 'COUNT', this.opts.batch ?? 100)) as [string, Entry[]];
      if (entries.length) await this.relay(entries);
      cursor = next;
    } while (cursor !== '0-0' && this.running);
  }

  /** Adds each entry's job (in parallel), then acknowledges and deletes the entries. A malformed one is logged and dropped. */
  private async relay(entries: Entry[]): Promise<number> {
    let relayed = 0;
    await Promise.all(
      entries.map(async ([id, fields]) => {
        const intent = intentOf(fields);
        if (!intent) return void this.ctx.logger.error({ id }, 'job outbox: malformed entry dropped');
        await this.ctx.jobs.addIntent(intent);
        relayed++;
      }),
    );
    const ids = entries.map(([id]) => id);
    if (ids.length) await this.ctx.redis.multi().xack(this.key, OUTBOX_GROUP, ...ids).xdel(this.key, ...ids).exec();
    return relayed;
  }

  /** Relays everything waiting now, without blocking (tests, and the CLI's one-shot runs); returns how many jobs. */
  async drain(): Promise<number> {
    await this.ensureGroup();
    let total = 0;
    for (;;) {
      const read = (await this.ctx.redis.xreadgroup('GROUP', OUTBOX_GROUP, this.consumer, 'COUNT', this.opts.batch ?? 100, 'STREAMS', this.key, '>')) as Array<[string, Entry[]]> | null;
      const entries = read?.[0]?.[1] ?? [];
      if (!entries.length) return total;
      total += await this.relay(entries);
    }
  }

  /** Stops after the batch in hand; a clean stop leaves nothing pending, so the consumer is removed from the group. */
  async close(): Promise<void> {
    this.running = false;
    this.reader.disconnect();
    await this.loop;
    if (this.groupReady) {
      const pending = (await this.ctx.redis.xpending(this.key, OUTBOX_GROUP, '-', '+', 1, this.consumer).catch(() => [1])) as unknown[];
      if (!pending.length) await this.ctx.redis.xgroup('DELCONSUMER', this.key, OUTBOX_GROUP, this.consumer).catch(() => {});
    }
  }
}
