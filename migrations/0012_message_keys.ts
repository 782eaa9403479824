import { sql, type Kysely } from 'kysely';

/**
 * Issue 16: what the system and staff say to a requester is kept as a message key with its parameters, so each reader
 * reads it in their language (the request's language in mails, the page's on the status page). The English text
 * stays beside it (staff pages, logs, and rows written before this migration, which have no key).
 * - request_events: each timeline step's key (`reason.<code>`, …) and parameters;
 * - ticket_replies: a reply's key and parameters when it is our own wording (a staff action's reply or a reply
 *   template), none when a staff member wrote it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE request_events ADD COLUMN message_key text, ADD COLUMN message_params jsonb`.execute(db);
  await sql`ALTER TABLE ticket_replies ADD COLUMN body_key text, ADD COLUMN body_params jsonb`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE request_events DROP COLUMN message_key, DROP COLUMN message_params`.execute(db);
  await sql`ALTER TABLE ticket_replies DROP COLUMN body_key, DROP COLUMN body_params`.execute(db);
}
