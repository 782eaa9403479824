import { sql, type Kysely } from 'kysely';

/**
 * The desk (tickets, audit log, staff users, API tokens) on PostgreSQL before the records cluster (requests and
 * reports) is: until then a ticket names a request, and a case a report, that live in Redis.
 *
 * Interim (issue 14, undone by 0005): the two foreign keys of 0001 that point at `requests` and `reports` are dropped here, because
 * on this branch those rows are still in Redis. When the records cluster lands, the merge turns this migration into
 * a no-op (the constraints of 0001 stay as designed).
 */
const UP = [
  `ALTER TABLE tickets DROP CONSTRAINT tickets_request_id_fkey`,
  `ALTER TABLE ticket_reports DROP CONSTRAINT ticket_reports_report_id_fkey`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE tickets ADD CONSTRAINT tickets_request_id_fkey FOREIGN KEY (request_id) REFERENCES requests (id)`.execute(db);
  await sql`ALTER TABLE ticket_reports ADD CONSTRAINT ticket_reports_report_id_fkey FOREIGN KEY (report_id) REFERENCES reports (request_id) ON DELETE CASCADE`.execute(db);
}
