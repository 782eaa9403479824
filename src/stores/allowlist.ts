import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AllowEntry } from '../domain/datasets.js';
import { DATASET_TABLES } from './dataset-tables.js';
import type { RoutingStore } from './routing.js';

const ALLOW = DATASET_TABLES.allowlist;

/** The allow list (allow_entries): read here, changed only through the routing publisher. */
export class AllowlistStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly routing: RoutingStore,
  ) {}

  /** Every entry, the next review first. */
  async list(): Promise<AllowEntry[]> {
    const { rows } = await sql<Record<string, unknown>>`SELECT ${ALLOW.select} FROM allow_entries ORDER BY review_by, cidr`.execute(this.db);
    return rows.map(ALLOW.fromRow);
  }

  async get(cidr: string, db: Kysely<Database> = this.db): Promise<AllowEntry | null> {
    return this.routing.entry('allowlist', cidr, db);
  }

  async count(db: Kysely<Database> = this.db): Promise<number> {
    const row = await db.selectFrom('allow_entries').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
