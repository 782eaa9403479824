import { sql, type Kysely } from 'kysely';

/**
 * Routing cluster (issue 14): a self-delist stays counted when its request is deleted. The relisting doubling counts a
 * network's self-delists ever, so a retention job deleting old requests must not take the count down with them (the
 * cascading foreign key of 0001 would); the request id stays the primary key, so a retried job still counts once.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE self_delists DROP CONSTRAINT self_delists_request_id_fkey`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DELETE FROM self_delists s WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = s.request_id)`.execute(db);
  await sql`ALTER TABLE self_delists ADD CONSTRAINT self_delists_request_id_fkey FOREIGN KEY (request_id) REFERENCES requests (id) ON DELETE CASCADE`.execute(db);
}
