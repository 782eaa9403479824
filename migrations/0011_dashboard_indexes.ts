import { sql, type Kysely } from 'kysely';

/**
 * The staff dashboard (src/stores/dashboard.ts): what came in per hour, the tenants with most trusted reports, the time
 * to first response. Each count reads a range of one index and nothing else (index-only where the visibility map
 * allows), so the page costs the rows of its window, not the table. A ticket keeps when staff first acted on it or
 * replied (`first_response_at`, set once by TicketStore), filled here from the timelines so far. Measured with
 * `npm run bench -- staff` (staff.dashboard_ms).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX requests_type_created ON requests (type, created_at)`.execute(db);
  await sql`CREATE INDEX tickets_kind_created ON tickets (kind, created_at)`.execute(db);
  await sql`CREATE INDEX reports_trusted_received ON reports (received_at, tenant) WHERE trusted AND duplicate_of IS NULL`.execute(db);
  await sql`ALTER TABLE tickets ADD COLUMN first_response_at timestamptz`.execute(db);
  await sql`
    UPDATE tickets t SET first_response_at = f.first
      FROM (SELECT ticket_id, min(at) AS first FROM (
              SELECT ticket_id, at FROM ticket_events WHERE type = 'action'
              UNION ALL SELECT ticket_id, at FROM ticket_replies) r GROUP BY ticket_id) f
     WHERE t.id = f.ticket_id`.execute(db);
  await sql`CREATE INDEX tickets_first_response ON tickets (first_response_at, created_at) WHERE first_response_at IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX tickets_first_response`.execute(db);
  await sql`ALTER TABLE tickets DROP COLUMN first_response_at`.execute(db);
  await sql`DROP INDEX reports_trusted_received`.execute(db);
  await sql`DROP INDEX tickets_kind_created`.execute(db);
  await sql`DROP INDEX requests_type_created`.execute(db);
}
