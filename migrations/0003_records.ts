import { sql, type Kysely } from 'kysely';

/**
 * Records (issue 14): what a request carries beyond the initial schema, and evidence kept from intake on.
 * - A report request keeps how it came (channel, reporter, category), what was parsed (`parsed`), the transport
 *   facts (`origin`) and whom we believe (`trust`) from intake, before the worker writes its `reports` row.
 * - `ticket_id`: the ticket a request became (staff review, abuse case, unblock).
 * - Evidence is stored with the report's request at intake (the `reports` row comes with the ingest job), so its key
 *   refers to `requests`.
 */
const UP = [
  `ALTER TABLE requests
     ADD COLUMN ticket_id text,
     ADD COLUMN channel   text CHECK (channel IN ('web', 'api', 'smtp')),
     ADD COLUMN reporter  text,
     ADD COLUMN category  text,
     ADD COLUMN parsed    jsonb,
     ADD COLUMN origin    jsonb,
     ADD COLUMN trust     jsonb`,
  // The report counter's window counts every report of a case in the window, duplicates included (a duplicate keeps
  // its original's message in the window, and a trusted duplicate's reporter counts).
  `CREATE INDEX reports_case_received ON reports (case_key, received_at)`,
  `ALTER TABLE evidence DROP CONSTRAINT evidence_report_id_fkey`,
  `ALTER TABLE evidence ADD CONSTRAINT evidence_request_fkey FOREIGN KEY (report_id) REFERENCES requests (id) ON DELETE CASCADE`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX reports_case_received`.execute(db);
  await sql`ALTER TABLE evidence DROP CONSTRAINT evidence_request_fkey`.execute(db);
  await sql`ALTER TABLE evidence ADD CONSTRAINT evidence_report_id_fkey FOREIGN KEY (report_id) REFERENCES reports (request_id) ON DELETE CASCADE`.execute(db);
  await sql`ALTER TABLE requests DROP COLUMN ticket_id, DROP COLUMN channel, DROP COLUMN reporter, DROP COLUMN category, DROP COLUMN parsed, DROP COLUMN origin, DROP COLUMN trust`.execute(db);
}
