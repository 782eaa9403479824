import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import { DATASETS, type Dataset, type DatasetValues, type RoutingChange } from '../domain/datasets.js';
import { DATASET_TABLES, type DatasetTable } from './dataset-tables.js';

export type Snapshot = { version: number; generatedAt: string } & { [D in keyof DatasetValues]: Array<DatasetValues[D]> };

/** A snapshot as the routing API serves it: the UTF-8 JSON text of a Snapshot (key order included), at `version`. */
export interface SnapshotBody {
  version: number;
  bytes: Buffer;
}

/**
 * Pages of an address list whose entries the server writes as JSON in one query: ~60 entries a page, so about 60,000
 * entries and 9 MB of text a query, however long the list (decision 0004).
 */
const JSON_CHUNK_PAGES = 1024;

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
/** The snapshot being built on each pool (Kysely instance), so builds on one pool run one after the other. */
const building = new WeakMap<Kysely<Database>, Promise<unknown>>();

export class RoutingStore {
  private cached: { version: number; body: Promise<SnapshotBody> } | null = null;
  private parsed: { from: SnapshotBody; snapshot: Snapshot } | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly feedMaxLength: number,
    /** Tests give a small one, so a few hundred entries span several ranges. */
    private readonly jsonChunkPages = JSON_CHUNK_PAGES,
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
   * The snapshot as GET /api/v1/routing/snapshot serves it: the JSON bytes of every dataset at one version, read in one
   * REPEATABLE READ transaction (so the version and the entries agree), each dataset in its snapshot order, so equal
   * versions give identical snapshots. Built once per version in the process; clients verify and parse these bytes.
   */
  async snapshotBody(): Promise<SnapshotBody> {
    const current = await this.version();
    if (this.cached?.version === current) return this.cached.body;
    // One build at a time per pool, whatever store asks (each holds two of its connections: readSnapshotBody).
    const body = (building.get(this.db) ?? Promise.resolve()).then(() => this.readSnapshotBody());
    building.set(this.db, body.catch(() => {}));
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

  /**
   * The same snapshot as objects (exports, CLI, tests): its bytes parsed, so they are exactly what clients get. Parsed
   * once per version, when first asked for; the routing API alone never needs it.
   */
  async snapshot(): Promise<Snapshot> {
    const body = await this.snapshotBody();
    if (this.parsed?.from !== body) this.parsed = { from: body, snapshot: JSON.parse(body.bytes.toString('utf8')) as Snapshot };
    return this.parsed.snapshot;
  }

  /**
   * Two read-only REPEATABLE READ transactions on one snapshot (the second imports the first's with SET TRANSACTION
   * SNAPSHOT, as pg_dump -j does): the address lists' ranges alternate between them, so one server process builds the
   * next range while this process takes in the last one (two cores busy, not one). It holds two pool connections, the
   * second taken while holding the first: snapshotBody() runs one build at a time per pool, so builds never wait on each
   * other's connections.
   */
  private async readSnapshotBody(): Promise<SnapshotBody> {
    return readOnlySnapshot(this.db, async (trx) => {
      const { rows } = await sql<{ id: string }>`SELECT pg_export_snapshot() AS id`.execute(trx);
      const exported = rows[0]!.id;
      if (!/^[0-9A-F-]+$/i.test(exported)) throw new Error(`unexpected snapshot id ${exported}`);
      return readOnlySnapshot(this.db, async (second) => {
        await sql`SET TRANSACTION SNAPSHOT ${sql.lit(exported)}`.execute(second); // before any query of this transaction
        for (const reader of [trx, second]) await snapshotSettings(reader);
        const { version } = await trx.selectFrom('routing_state').select('version').executeTakeFirstOrThrow();
        // generatedAt is when this version was published (its feed row; the epoch for version 0), not when this process
        // built it: every web process serves the same bytes, and the same signature, under the version's ETag.
        const published = await trx.selectFrom('routing_feed').select('at').where('version', '=', version).executeTakeFirst();
        const generatedAt = (published?.at ?? new Date(0)).toISOString();
        // JSON.stringify's text of { version, generatedAt, ...datasets }, one part after the other.
        const parts = [`{"version":${version},"generatedAt":${JSON.stringify(generatedAt)}`];
        for (const d of DATASETS) {
          const table = DATASET_TABLES[d] as DatasetTable<typeof d>;
          parts.push(`,${JSON.stringify(d)}:`);
          if (table.json) {
            parts.push(...(await jsonArrayIn([trx, second], table.table, table.json, this.jsonChunkPages)));
          } else {
            const { rows } = await sql<Record<string, unknown>>`SELECT ${table.select} FROM ${sql.table(table.table)} ${table.order ? sql`ORDER BY ${table.order}` : sql``}`.execute(trx);
            parts.push(JSON.stringify(rows.map((r) => table.fromRow(r))));
          }
        }
        parts.push('}');
        // Written once into one buffer of the right size (the signature needs the body in one piece).
        const bytes = Buffer.allocUnsafe(parts.reduce((n, p) => n + Buffer.byteLength(p), 0));
        parts.reduce((at, p) => at + bytes.write(p, at), 0);
        return { version, bytes };
      });
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

/** A read-only REPEATABLE READ transaction: every query of `read` sees the same snapshot. */
function readOnlySnapshot<T>(db: Kysely<Database>, read: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(read);
}

/**
 * The settings a snapshot read needs, to the end of its transaction: the address lists are read in physical order
 * (DATASET_TABLES.order), one range of pages after the other from the first page, the same order at a given
 * version; the allow list's review_by::text is YYYY-MM-DD.
 */
async function snapshotSettings(trx: Kysely<Database>): Promise<void> {
  await sql`SET LOCAL synchronize_seqscans = off`.execute(trx);
  await sql`SET LOCAL max_parallel_workers_per_gather = 0`.execute(trx);
  await sql`SET LOCAL DateStyle = 'ISO, YMD'`.execute(trx);
}

/**
 * A JSON array of every entry of an address list, as the server writes them (DatasetTable.json): the table read one
 * range of `chunkPages` pages after the other (TID range scans, each in physical order), the ranges handed to the
 * `readers` (transactions on one snapshot) in turn, so the next range is being built while this one arrives; the
 * parts are joined in range order whichever reader answered first. The last range is open-ended: pages added since
 * the size was read hold no row this snapshot sees, and are read all the same.
 */
async function jsonArrayIn(readers: Array<Kysely<Database>>, table: string, json: RawBuilder<unknown>, chunkPages: number): Promise<string[]> {
  const { rows } = await sql<{ pages: string }>`SELECT pg_relation_size(${table}::regclass) / current_setting('block_size')::int AS pages`.execute(readers[0]!);
  const pages = Number(rows[0]!.pages);
  const ranges = Math.max(1, Math.ceil(pages / chunkPages));
  const readRange = (i: number) => {
    const from = i * chunkPages;
    const range = i === ranges - 1 ? sql`ctid >= ${`(${from},0)`}::tid` : sql`ctid >= ${`(${from},0)`}::tid AND ctid < ${`(${from + chunkPages},0)`}::tid`;
    return sql<{ part: string | null }>`SELECT string_agg(${json}, ',') AS part FROM ${sql.table(table)} WHERE ${range}`.execute(readers[i % readers.length]!);
  };
  // One range in flight per reader: range i + readers.length is asked for once range i (same reader) has answered.
  const inFlight = new Map<number, ReturnType<typeof readRange>>();
  const ask = (i: number) => {
    if (i >= ranges) return;
    const reading = readRange(i);
    reading.catch(() => {}); // awaited below, in order; a failure is thrown there
    inFlight.set(i, reading);
  };
  for (let i = 0; i < readers.length; i++) ask(i);
  const out = ['['];
  for (let i = 0; i < ranges; i++) {
    const { rows: parts } = await inFlight.get(i)!;
    inFlight.delete(i);
    ask(i + readers.length);
    const part = parts[0]?.part;
    if (part) {
      if (out.length > 1) out.push(',');
      out.push(part);
    }
  }
  out.push(']');
  return out;
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
