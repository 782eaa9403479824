import { sql, type Kysely } from 'kysely';

/**
 * A conversation, not a dead end (issue 16): the contact form makes a request of type `contact` and a ticket of kind
 * `contact` (with its two ticket_counts rows); a requester's answer by mail to a ticket's reply address is a timeline
 * event of type `requester`.
 */
const UP = [
  `ALTER TABLE requests DROP CONSTRAINT requests_type_check`,
  `ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('delist', 'report', 'unblock', 'contact'))`,
  `ALTER TABLE tickets DROP CONSTRAINT tickets_kind_check`,
  `ALTER TABLE tickets ADD CONSTRAINT tickets_kind_check CHECK (kind IN ('delist-review', 'abuse-case', 'tenant-unblock', 'contact'))`,
  `INSERT INTO ticket_counts (state, kind) VALUES ('open', 'contact'), ('closed', 'contact') ON CONFLICT DO NOTHING`,
  `ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_type_check`,
  `ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_type_check CHECK (type IN ('system', 'action', 'note', 'requester'))`,
];

const DOWN = [
  `DELETE FROM ticket_events WHERE type = 'requester'`,
  `ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_type_check`,
  `ALTER TABLE ticket_events ADD CONSTRAINT ticket_events_type_check CHECK (type IN ('system', 'action', 'note'))`,
  `DELETE FROM tickets WHERE kind = 'contact'`,
  `DELETE FROM ticket_counts WHERE kind = 'contact'`,
  `ALTER TABLE tickets DROP CONSTRAINT tickets_kind_check`,
  `ALTER TABLE tickets ADD CONSTRAINT tickets_kind_check CHECK (kind IN ('delist-review', 'abuse-case', 'tenant-unblock'))`,
  `DELETE FROM requests WHERE type = 'contact'`,
  `ALTER TABLE requests DROP CONSTRAINT requests_type_check`,
  `ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('delist', 'report', 'unblock'))`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
