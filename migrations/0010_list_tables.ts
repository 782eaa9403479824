import { sql, type Kysely } from 'kysely';

/**
 * The staff console's tables of exclusions, pool assignments and tenants (src/stores/list-tables.ts) read each sort
 * as an index range scan from the cursor on, and the tenant page finds a tenant's unblock requests by index.
 */
const UP = [
  `CREATE INDEX blocklist_exclusions_created ON blocklist_exclusions (created_at, cidr)`,
  `CREATE INDEX blocklist_exclusions_expiring ON blocklist_exclusions (expires_at, cidr) WHERE expires_at IS NOT NULL`,
  `CREATE INDEX pool_assignments_assigned ON pool_assignments (assigned_at, kind, key)`,
  `CREATE INDEX pool_assignments_expiring ON pool_assignments (expires_at, kind, key) WHERE expires_at IS NOT NULL`,
  `CREATE INDEX tenants_created ON tenants (created_at, id)`,
  `CREATE INDEX requests_tenant ON requests (tenant, created_at) WHERE tenant IS NOT NULL`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of ['requests_tenant', 'tenants_created', 'pool_assignments_expiring', 'pool_assignments_assigned', 'blocklist_exclusions_expiring', 'blocklist_exclusions_created']) {
    await sql.raw(`DROP INDEX ${index}`).execute(db);
  }
}
