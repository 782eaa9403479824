import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Restriction } from '../domain/datasets.js';
import { DATASET_TABLES, restrictionKey } from './dataset-tables.js';
import type { RoutingStore } from './routing.js';

const RESTRICTIONS = DATASET_TABLES.restrictions;

export { restrictionKey };

/** Tenant restrictions (restrictions): read here, changed only through the routing publisher. */
export class RestrictionStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly routing: RoutingStore,
  ) {}

  async get(tenant: string, db: Kysely<Database> = this.db): Promise<Restriction | null> {
    return this.routing.entry('restrictions', restrictionKey(tenant), db);
  }

  /** At most `limit` restrictions, by tenant (the staff lists page). */
  async list(limit = 500): Promise<Restriction[]> {
    const { rows } = await sql<Record<string, unknown>>`SELECT ${RESTRICTIONS.select} FROM restrictions ORDER BY ${RESTRICTIONS.order} LIMIT ${limit}`.execute(this.db);
    return rows.map(RESTRICTIONS.fromRow);
  }
}
