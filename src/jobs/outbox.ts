import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { clientConfig, notifyChannel, type DbOptions } from '../db/connection.js';
import type { Database } from '../db/schema.js';
import type { Context } from '../context.js';
import { QUEUES } from './contract.js';
import type { JobIntent } from './enqueue.js';

/** How a relay listens, polls and sweeps (RelayOptions of startWorkers). */
export interface RelayOptions {
  /** A LISTEN connection into the same schema; without it the relay polls only. */
  listen?: DbOptions;
  /** The back-up poll (default 5 s). */
  pollMs?: number;
  /** How often in-flight entries are checked against BullMQ (default 30 s). */
  sweepMs?: number;
  /** An entry handed over this long ago whose job is gone is handed over again (default 10 s). */
  sweepAfterMs?: number;
  /** Done entries are deleted after this long (default one day). */
  keepDoneMs?: number;
  batch?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const QUEUE_NAMES = Object.values(QUEUES) as string[];

type Row = { id: number; queue: string; job_name: string; job_id: string; payload: Record<string, unknown>; run_at: Date | null };
const intentOf = (r: Row): JobIntent => ({ queue: r.queue, name: r.job_name, jobId: r.job_id, data: r.payload, ...(r.run_at && { runAt: r.run_at }) });

/** Marks the entry of a finished job done (completed, or failed for good). */
export async function markDone(db: Kysely<Database>, queue: string, jobId: string): Promise<void> {
  await db.updateTable('job_outbox').set({ done_at: new Date() }).where('queue', '=', queue).where('job_id', '=', jobId).where('handed_at', 'is not', null).where('done_at', 'is', null).execute();
}

/**
 * The relay of the job outbox (`job_outbox`, docs/architecture.md "The job outbox"): moves each entry written by a
 * committed transaction into its BullMQ queue, under the entry's fixed job id, so a second hand-over (two relays, a
 * relay that died after adding) is a no-op.
 *
 * - Woken by LISTEN on "<schema>.job_outbox" (the insert trigger notifies at commit), with a slow poll as a back-up.
 * - Entries are claimed `FOR UPDATE SKIP LOCKED`, so relays in several workers share them safely.
 * - An entry is done when its job has finished (`markDone`, called by the worker when the job completed or failed for
 *   good), not when it was handed over: the sweep hands an entry over again when its job is gone from BullMQ (Redis
 *   emptied, a failover that lost the last writes), so no request waits forever for a job that vanished.
 */
export class OutboxRelay {
  readonly name = 'job-outbox';
  private running = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private pending = false;
  private listener: pg.Client | null = null;
  private lastSweep = 0;

  constructor(
    private readonly ctx: Context,
    private readonly opts: RelayOptions = {},
  ) {}

  private get db() {
    return this.ctx.db;
  }

  start(): this {
    this.running = true;
    this.loop = this.run();
    return this;
  }

  /** Wakes the loop (a NOTIFY arrived). */
  private poke(): void {
    this.pending = true;
    this.wake?.();
  }

  private async listen(): Promise<void> {
    if (!this.opts.listen || this.listener) return;
    const client = new pg.Client(clientConfig(this.opts.listen));
    client.on('error', () => {
      // The connection broke: the loop opens another (and relays what it missed meanwhile).
      if (this.listener === client) this.listener = null;
      client.end().catch(() => {});
      this.poke();
    });
    client.on('notification', () => this.poke());
    await client.connect();
    const channel = notifyChannel(this.opts.listen.searchPath ?? 'public', 'job_outbox');
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
    this.listener = client;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.listen();
        this.pending = false;
        const handed = await this.relayBatch();
        if (Date.now() - this.lastSweep >= (this.opts.sweepMs ?? 30_000)) await this.sweep();
        if (handed >= (this.opts.batch ?? 100) || this.pending) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.opts.pollMs ?? 5000);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
      } catch (err) {
        if (!this.running) break;
        this.ctx.logger.warn({ err: (err as Error).message }, 'job outbox relay: retrying');
        await sleep(1000);
      }
    }
  }

  /**
   * Claims up to a batch of entries not handed over yet (skipping those another relay holds), adds their jobs and
   * marks them handed, in one transaction: a relay that dies before its commit leaves them for the next one (whose
   * adds are then no-ops). A malformed entry is logged and marked done.
   */
  async relayBatch(): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const rows = (await trx
        .selectFrom('job_outbox')
        .select(['id', 'queue', 'job_name', 'job_id', 'payload', 'run_at'])
        .where('handed_at', 'is', null)
        .orderBy('id')
        .limit(this.opts.batch ?? 100)
        .forUpdate()
        .skipLocked()
        .execute()) as Row[];
      if (!rows.length) return 0;
      const bad: number[] = [];
      await Promise.all(
        rows.map(async (row) => {
          if (!QUEUE_NAMES.includes(row.queue) || typeof row.payload !== 'object' || row.payload === null) {
            this.ctx.logger.error({ id: row.id, queue: row.queue }, 'job outbox: malformed entry dropped');
            return void bad.push(row.id);
          }
          await this.ctx.jobs.handOver(intentOf(row));
        }),
      );
      const now = new Date();
      await trx.updateTable('job_outbox').set({ handed_at: now }).where('id', 'in', rows.map((r) => r.id)).execute();
      if (bad.length) await trx.updateTable('job_outbox').set({ done_at: now }).where('id', 'in', bad).execute();
      return rows.length - bad.length;
    });
  }

  /**
   * Checks the entries in flight (handed over, not done) against BullMQ, those seen longest ago first: a job that
   * finished is marked done (its mark was lost), a job that is gone is handed over again, and a job still waiting
   * (a delayed expiry can wait for days) has its `handed_at` moved to now, so the next sweep checks the entries
   * behind it: every entry in flight is looked at in turn, however many long-delayed jobs there are. Deletes done
   * entries after `keepDoneMs`.
   */
  async sweep(now = new Date()): Promise<{ rehanded: number; done: number }> {
    this.lastSweep = Date.now();
    const result = { rehanded: 0, done: 0 };
    const before = new Date(now.getTime() - (this.opts.sweepAfterMs ?? 10_000));
    await this.db.transaction().execute(async (trx) => {
      const rows = (await trx
        .selectFrom('job_outbox')
        .select(['id', 'queue', 'job_name', 'job_id', 'payload', 'run_at'])
        .where('handed_at', '<=', before)
        .where('done_at', 'is', null)
        .orderBy('handed_at')
        .limit(this.opts.batch ?? 100)
        .forUpdate()
        .skipLocked()
        .execute()) as Row[];
      const alive: number[] = [];
      for (const row of rows) {
        const job = await this.ctx.jobs.job(row.queue, row.job_id);
        const state = job ? await job.getState() : 'gone';
        if (state === 'completed' || state === 'failed') {
          await trx.updateTable('job_outbox').set({ done_at: now }).where('id', '=', row.id).execute();
          result.done++;
        } else if (state === 'gone' || state === 'unknown') {
          await this.ctx.jobs.handOver(intentOf(row), now.getTime());
          await trx.updateTable('job_outbox').set({ handed_at: now }).where('id', '=', row.id).execute();
          result.rehanded++;
        } else {
          alive.push(row.id);
        }
      }
      // Still in BullMQ: to the back of the line (handed_at means "last handed over or seen there").
      if (alive.length) await trx.updateTable('job_outbox').set({ handed_at: now }).where('id', 'in', alive).execute();
    });
    await this.db.deleteFrom('job_outbox').where('done_at', '<', new Date(now.getTime() - (this.opts.keepDoneMs ?? 86_400_000))).execute();
    if (result.rehanded) this.ctx.logger.warn({ rehanded: result.rehanded }, 'job outbox: jobs gone from BullMQ handed over again');
    return result;
  }

  /** Relays everything waiting now, without waiting for more (tests, and one-shot runs); returns how many jobs. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.relayBatch();
      total += n;
      if (n === 0) return total;
    }
  }

  /** Entries waiting to be handed over (metrics). */
  static async waiting(db: Kysely<Database>): Promise<number> {
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM job_outbox WHERE handed_at IS NULL`.execute(db);
    return rows[0]?.n ?? 0;
  }

  /** Stops after the batch in hand. */
  async close(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    const listener = this.listener;
    this.listener = null;
    await listener?.end().catch(() => {});
  }
}
