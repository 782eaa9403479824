import { sql, type Kysely } from 'kysely';

/**
 * The staff listings table (BlocklistStore.page) over a million listings: newest first, newest first within a
 * category, and soonest to expire, read as index range scans in keyset order (no sort of the whole table per page). Measured with
 * `npm run bench -- staff` (staff.listings_page_ms).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX blocklist_entries_listed ON blocklist_entries (listed_at, cidr)`.execute(db);
  await sql`CREATE INDEX blocklist_entries_category_listed ON blocklist_entries (category, listed_at, cidr)`.execute(db);
  await sql`CREATE INDEX blocklist_entries_expiring ON blocklist_entries (expires_at, cidr) WHERE expires_at IS NOT NULL`.execute(db);
  await sql`CREATE INDEX blocklist_entries_category_expiring ON blocklist_entries (category, expires_at, cidr) WHERE expires_at IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX blocklist_entries_category_expiring`.execute(db);
  await sql`DROP INDEX blocklist_entries_expiring`.execute(db);
  await sql`DROP INDEX blocklist_entries_category_listed`.execute(db);
  await sql`DROP INDEX blocklist_entries_listed`.execute(db);
}
