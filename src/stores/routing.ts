import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { DATASETS, type Dataset, type DatasetValues, type RoutingChange } from '../domain/datasets.js';
import { DATASET_TABLES, type DatasetTable } from './dataset-tables.js';

export type Snapshot = { version: number; generatedAt: string } & { [D in keyof DatasetValues]: Array<DatasetValues[D]> };

export interface FeedEntry {
  version: number;
  at: string;
  changes: RoutingChange[];
}

export type FeedPage = { gone: true; version: number } | { gone: false; version: number; entries: FeedEntry[]; hasMore: boolean };

/**
 * The routing publisher: the only writer of the routing datasets (blocklist_entries, blocklist_exclusions,
 * pool_assignments, allow_entries, restrictions), their version (routing_state) and the change feed (routing_feed).
 * One transaction applies a list of changes, takes the next version and writes the feed row; the feed's insert trigger
 * NOTIFYs "<schema>.routing_feed" at commit, so a consumer reading the snapshot or the feed never sees half a change.
 */
export class RoutingStore {
  private cached: { version: number; body: Promise<Snapshot> } | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly feedMaxLength: number,
  ) {}

  /**
   * Takes the publisher's lock (the routing_state row) for the rest of `trx`: a use case that reads the datasets to plan
   * its change calls this first, so no other publisher changes them between its reads and its publishIn().
   */
  async lockIn(trx: Kysely<Database>): Promise<number> {
    const row = await trx.selectFrom('routing_state').select('version').forUpdate().executeTakeFirstOrThrow();
    return row.version;
  }

  /**
   * Applies `changes` to the dataset tables, takes the next version and writes its feed row (trimming the feed to
   * policy routing.feedMaxLength versions), all inside `trx`. Returns the new version.
   */
  async publishIn(trx: Kysely<Database>, changes: RoutingChange[], now = new Date()): Promise<number> {
    for (const change of changes) await applyChange(trx, change);
    const { version } = await trx.updateTable('routing_state').set((eb) => ({ version: eb('version', '+', 1) })).returning('version').executeTakeFirstOrThrow();
    await trx.insertInto('routing_feed').values({ version, at: now, changes: JSON.stringify(changes) }).execute();
    if (version > this.feedMaxLength) await trx.deleteFrom('routing_feed').where('version', '<=', version - this.feedMaxLength).execute();
    return version;
  }

  /** Publishes changes in a transaction of their own; returns the new version. */
  async publish(changes: RoutingChange[], now = new Date()): Promise<number> {
    return this.db.transaction().execute((trx) => this.publishIn(trx, changes, now));
  }

  async version(): Promise<number> {
    const row = await this.db.selectFrom('routing_state').select('version').executeTakeFirst();
    return row?.version ?? 0;
  }

  /** One entry of a dataset by its key (the key the feed uses), or null. */
  async entry<D extends Dataset>(dataset: D, key: string, db: Kysely<Database> = this.db): Promise<DatasetValues[D] | null> {
    const table = DATASET_TABLES[dataset] as DatasetTable<D>;
    const where = table.where(key);
    if (!where) return null;
    const { rows } = await sql<Record<string, unknown>>`SELECT ${table.select} FROM ${sql.table(table.table)} WHERE ${where}`.execute(db);
    return rows[0] ? table.fromRow(rows[0]) : null;
  }

  /**
   * Every dataset at one version, read in one REPEATABLE READ transaction (so the version and the entries agree), each
   * dataset in its key order, so equal versions give identical snapshots. Built once per version in the process.
   */
  async snapshot(): Promise<Snapshot> {
    const current = await this.version();
    if (this.cached?.version === current) return this.cached.body;
    const body = this.readSnapshot();
    this.cached = { version: current, body };
    try {
      const snap = await body;
      // Read at a later version than asked (a publish in between): keep it under the version it has.
      if (snap.version !== current && this.cached?.body === body) this.cached = { version: snap.version, body };
      return snap;
    } catch (err) {
      if (this.cached?.body === body) this.cached = null;
      throw err;
    }
  }

  private async readSnapshot(): Promise<Snapshot> {
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        // The address lists are read in physical order (DATASET_TABLES.order): one plain scan from the first page, the
        // same at a given version. Settings end with the transaction.
        await sql`SET LOCAL synchronize_seqscans = off`.execute(trx);
        await sql`SET LOCAL max_parallel_workers_per_gather = 0`.execute(trx);
        await sql`SET LOCAL DateStyle = 'ISO, YMD'`.execute(trx);
        const { version } = await trx.selectFrom('routing_state').select('version').executeTakeFirstOrThrow();
        const body = { version, generatedAt: new Date().toISOString() } as Snapshot;
        for (const d of DATASETS) {
          const table = DATASET_TABLES[d] as DatasetTable<typeof d>;
          const { rows } = await sql<Record<string, unknown>>`SELECT ${table.bulkSelect} FROM ${sql.table(table.table)} ${table.order ? sql`ORDER BY ${table.order}` : sql``}`.execute(trx);
          (body as Record<string, unknown>)[d] = rows.map((r) => table.fromBulkRow(r));
        }
        return body;
      });
  }

  /** The changes after `after`, oldest first; `gone` when versions after it were trimmed from the feed. */
  async feed(after: number, limit = 1000): Promise<FeedPage> {
    return this.db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const head = await trx
          .selectFrom('routing_state')
          .select((eb) => ['version', eb.selectFrom('routing_feed').select((f) => f.fn.min('version').as('m')).as('oldest')])
          .executeTakeFirstOrThrow();
        const version = head.version;
        if (after >= version) return { gone: false, version, entries: [], hasMore: false };
        const oldest = head.oldest === null ? version + 1 : Number(head.oldest);
        if (after + 1 < oldest) return { gone: true, version };
        const rows = await trx.selectFrom('routing_feed').select(['version', 'at', 'changes']).where('version', '>', after).orderBy('version').limit(limit + 1).execute();
        const entries = rows.slice(0, limit).map(toFeedEntry);
        return { gone: false, version, entries, hasMore: rows.length > limit };
      });
  }

  /** The newest feed entries, newest first (the staff lists page). */
  async recent(count = 30): Promise<FeedEntry[]> {
    return (await this.db.selectFrom('routing_feed').select(['version', 'at', 'changes']).orderBy('version', 'desc').limit(count).execute()).map(toFeedEntry);
  }

  /** Drops the feed entries but the newest `keep` (the publisher trims by policy; tests and maintenance call this). */
  async trimFeed(keep: number): Promise<void> {
    await this.db.deleteFrom('routing_feed').where('version', '<=', (eb) => eb.selectFrom('routing_state').select(sql<number>`version - ${keep}`.as('v'))).execute();
  }
}

function toFeedEntry(row: { version: number; at: Date; changes: unknown[] }): FeedEntry {
  return { version: row.version, at: row.at.toISOString(), changes: row.changes as RoutingChange[] };
}

async function applyChange(trx: Kysely<Database>, change: RoutingChange): Promise<void> {
  const table = DATASET_TABLES[change.dataset] as DatasetTable<Dataset> | undefined;
  if (!table) throw new Error(`unknown dataset ${String(change.dataset)}`);
  const where = table.where(change.key);
  if (!where) throw new Error(`invalid key "${change.key}" for dataset ${change.dataset}`);
  if (change.op === 'remove') {
    await sql`DELETE FROM ${sql.table(table.table)} WHERE ${where}`.execute(trx);
    return;
  }
  const row = table.toRow(change.key, change.value as never);
  const columns = Object.keys(row);
  const values = columns.map((c) => row[c]);
  await sql`INSERT INTO ${sql.table(table.table)} (${sql.join(columns.map((c) => sql.id(c)))}) VALUES (${sql.join(values)})
            ON CONFLICT (${sql.join(table.key.map((c) => sql.id(c)))}) DO UPDATE SET ${sql.join(columns.filter((c) => !table.key.includes(c)).map((c) => sql`${sql.id(c)} = EXCLUDED.${sql.id(c)}`))}`.execute(trx);
}
