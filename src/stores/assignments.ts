import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { assignmentKey, type PoolAssignment } from '../domain/pools.js';
import { DATASET_TABLES } from './dataset-tables.js';
import type { RoutingStore } from './routing.js';

const POOLS = DATASET_TABLES.assignments;

/** Pool assignments (pool_assignments): read here, changed only through the routing publisher. */
export class AssignmentStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly routing: RoutingStore,
  ) {}

  async get(kind: 'tenant' | 'domain', key: string, db: Kysely<Database> = this.db): Promise<PoolAssignment | null> {
    return this.routing.entry('assignments', assignmentKey(kind, key), db);
  }

  /** The assignments of these tenants and domains (live or not), in the order asked. */
  async many(ids: Array<{ kind: 'tenant' | 'domain'; key: string }>): Promise<PoolAssignment[]> {
    if (!ids.length) return [];
    const pairs = sql.join(ids.map((i) => sql`(${i.kind}, ${i.key})`));
    const { rows } = await sql<Record<string, unknown>>`SELECT ${POOLS.select} FROM pool_assignments WHERE (kind, key) IN (${pairs})`.execute(this.db);
    const found = rows.map(POOLS.fromRow);
    return ids.flatMap((i) => found.filter((a) => a.kind === i.kind && a.key === i.key));
  }

  /** At most `limit` assignments, in key order (the staff lists page). */
  async list(limit = 500): Promise<PoolAssignment[]> {
    const { rows } = await sql<Record<string, unknown>>`SELECT ${POOLS.select} FROM pool_assignments ORDER BY ${POOLS.order} LIMIT ${limit}`.execute(this.db);
    return rows.map(POOLS.fromRow);
  }
}
