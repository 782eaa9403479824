import { sql, type Kysely } from 'kysely';

/**
 * Requests and reports live in PostgreSQL now (0003), so the two foreign keys 0004 dropped for the interim are back:
 * a ticket names a request that exists, a case's report link a report that exists (and goes with it).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tickets ADD CONSTRAINT tickets_request_id_fkey FOREIGN KEY (request_id) REFERENCES requests (id)`.execute(db);
  await sql`ALTER TABLE ticket_reports ADD CONSTRAINT ticket_reports_report_id_fkey FOREIGN KEY (report_id) REFERENCES reports (request_id) ON DELETE CASCADE`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tickets DROP CONSTRAINT tickets_request_id_fkey`.execute(db);
  await sql`ALTER TABLE ticket_reports DROP CONSTRAINT ticket_reports_report_id_fkey`.execute(db);
}
