import { sql, type Kysely } from 'kysely';

/**
 * The whole data model of the portal's records (docs/architecture.md, "Data model (PostgreSQL)", gives the reason
 * for each table and index). Tables are created unqualified, in the schema the connection's search_path names, so a
 * test can run this in a schema of its own. Migrations take `Kysely<any>`: they describe the schema as it was then,
 * not the current `Database` interface.
 */
const UP = [
  // -- Requests from the public (delist, report, unblock) and their timelines --------------------------------------
  `CREATE TABLE requests (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16}$'),
    type          text NOT NULL CHECK (type IN ('delist', 'report', 'unblock')),
    state         text NOT NULL CHECK (state IN ('awaiting_confirmation', 'queued', 'delisted', 'not_listed', 'needs_review',
                                                 'refused', 'received', 'duplicate', 'approved', 'closed')),
    email         text,
    ip            inet,
    tenant        text,
    lang          text,
    comment       text,
    reason        text,
    reason_code   text,
    reason_params jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE INDEX requests_created ON requests (created_at, id)`,
  `CREATE INDEX requests_waiting ON requests (state, created_at) WHERE state IN ('awaiting_confirmation', 'queued')`,
  `CREATE INDEX requests_ip ON requests (ip, created_at) WHERE ip IS NOT NULL`,
  `CREATE INDEX requests_email ON requests (lower(email), created_at)`,

  `CREATE TABLE request_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id text NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    state      text NOT NULL,
    message    text NOT NULL
  )`,
  `CREATE INDEX request_events_request ON request_events (request_id, id)`,

  // -- Email challenges: made with their request, used up by one conditional UPDATE --------------------------------
  `CREATE TABLE challenges (
    id         text PRIMARY KEY,
    request_id text NOT NULL UNIQUE REFERENCES requests (id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (expires_at > created_at)
  )`,
  `CREATE INDEX challenges_expires ON challenges (expires_at)`,

  // -- Staff and machine identities --------------------------------------------------------------------------------
  `CREATE TABLE staff_users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL UNIQUE CHECK (email = lower(email)),
    role            text NOT NULL CHECK (role IN ('viewer', 'triager', 'admin')),
    password_hash   text NOT NULL,
    session_version integer NOT NULL DEFAULT 1,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
  )`,

  `CREATE TABLE api_tokens (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL DEFAULT '',
    revoked_at timestamptz,
    revoked_by text
  )`,
  `CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL`,

  // -- Tickets: the staff queue ------------------------------------------------------------------------------------
  `CREATE TABLE tickets (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,80}$'),
    kind          text NOT NULL CHECK (kind IN ('delist-review', 'abuse-case', 'tenant-unblock')),
    state         text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    severity      text NOT NULL DEFAULT 'normal' CHECK (severity IN ('normal', 'critical')),
    severity_rank smallint GENERATED ALWAYS AS (CASE severity WHEN 'critical' THEN 0 ELSE 1 END) STORED,
    subject       text NOT NULL,
    reason        text NOT NULL,
    resolution    text,
    request_id    text REFERENCES requests (id),
    case_key      text,
    ip            inet,
    tenant        text,
    email         text,
    category      text,
    assignee_id   bigint REFERENCES staff_users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    due_at        timestamptz NOT NULL,
    closed_at     timestamptz,
    CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
    CHECK (kind <> 'abuse-case' OR case_key IS NOT NULL)
  )`,
  // The queue: one page = the first 50 rows after a cursor, in one of three orders, for all kinds or one kind.
  `CREATE INDEX tickets_by_due ON tickets (state, due_at, id)`,
  `CREATE INDEX tickets_by_kind_due ON tickets (state, kind, due_at, id)`,
  `CREATE INDEX tickets_by_severity ON tickets (state, severity_rank, due_at, id)`,
  `CREATE INDEX tickets_by_kind_severity ON tickets (state, kind, severity_rank, due_at, id)`,
  `CREATE INDEX tickets_by_age ON tickets (state, created_at, id)`,
  `CREATE INDEX tickets_by_kind_age ON tickets (state, kind, created_at, id)`,
  // Exact filters (selective by nature: a page is read from the few rows that match, then sorted).
  `CREATE INDEX tickets_tenant ON tickets (tenant, state, due_at) WHERE tenant IS NOT NULL`,
  `CREATE INDEX tickets_ip ON tickets USING gist (ip inet_ops) WHERE ip IS NOT NULL`,
  `CREATE INDEX tickets_email ON tickets (lower(email))`, // not partial: lower(email) = $1 does not prove email IS NOT NULL to the planner
  `CREATE INDEX tickets_category ON tickets (category, state, due_at) WHERE category IS NOT NULL`,
  `CREATE INDEX tickets_assignee ON tickets (assignee_id, state, due_at) WHERE assignee_id IS NOT NULL`,
  // One ticket per request; one open abuse case per tenant (or source address): INSERT … ON CONFLICT decides races.
  `CREATE UNIQUE INDEX tickets_request ON tickets (request_id) WHERE request_id IS NOT NULL`,
  `CREATE UNIQUE INDEX tickets_open_case ON tickets (case_key) WHERE kind = 'abuse-case' AND state = 'open'`,

  // The queue's tabs show how many tickets each kind has in a state. Counting 100,000 open rows takes tens of ms;
  // this table keeps the numbers, one row per state and kind (all made here: a migration that adds a kind or a state
  // adds its rows), changed by statement-level triggers in the transaction of every ticket change, once per statement
  // however many rows it touched. The function keeps the schema it was made in, whatever the session's search_path.
  `CREATE TABLE ticket_counts (
    state text NOT NULL,
    kind  text NOT NULL,
    n     bigint NOT NULL DEFAULT 0 CHECK (n >= 0),
    PRIMARY KEY (state, kind)
  )`,
  `INSERT INTO ticket_counts (state, kind)
     SELECT s, k FROM unnest(ARRAY['open', 'closed']) s, unnest(ARRAY['delist-review', 'abuse-case', 'tenant-unblock']) k`,
  `CREATE FUNCTION ticket_counts_track() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
  BEGIN
    IF TG_OP = 'TRUNCATE' THEN
      UPDATE ticket_counts SET n = 0;
    ELSIF TG_OP = 'INSERT' THEN
      UPDATE ticket_counts c SET n = c.n + d.n FROM (SELECT state, kind, count(*) AS n FROM new_rows GROUP BY 1, 2) d
       WHERE c.state = d.state AND c.kind = d.kind;
    ELSIF TG_OP = 'DELETE' THEN
      UPDATE ticket_counts c SET n = c.n - d.n FROM (SELECT state, kind, count(*) AS n FROM old_rows GROUP BY 1, 2) d
       WHERE c.state = d.state AND c.kind = d.kind;
    ELSE
      UPDATE ticket_counts c SET n = c.n + d.n
        FROM (SELECT state, kind, sum(delta) AS n
                FROM (SELECT state, kind, 1 AS delta FROM new_rows UNION ALL SELECT state, kind, -1 FROM old_rows) x
               GROUP BY 1, 2 HAVING sum(delta) <> 0) d
       WHERE c.state = d.state AND c.kind = d.kind;
    END IF;
    RETURN NULL;
  END
  $$`,
  `CREATE TRIGGER tickets_count_insert AFTER INSERT ON tickets REFERENCING NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION ticket_counts_track()`,
  `CREATE TRIGGER tickets_count_update AFTER UPDATE ON tickets REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
     FOR EACH STATEMENT EXECUTE FUNCTION ticket_counts_track()`,
  `CREATE TRIGGER tickets_count_delete AFTER DELETE ON tickets REFERENCING OLD TABLE AS old_rows
     FOR EACH STATEMENT EXECUTE FUNCTION ticket_counts_track()`,
  `CREATE TRIGGER tickets_count_truncate AFTER TRUNCATE ON tickets FOR EACH STATEMENT EXECUTE FUNCTION ticket_counts_track()`,

  `CREATE TABLE ticket_events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id text NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    type      text NOT NULL CHECK (type IN ('system', 'action', 'note')),
    message   text NOT NULL
  )`,
  `CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id)`,

  `CREATE TABLE ticket_replies (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id text NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    author    text NOT NULL,
    template  text NOT NULL CHECK (template IN ('update', 'need-info', 'resolved')),
    body      text NOT NULL
  )`,
  `CREATE INDEX ticket_replies_ticket ON ticket_replies (ticket_id, id)`,

  // -- Abuse reports and their evidence ----------------------------------------------------------------------------
  `CREATE TABLE reports (
    request_id      text PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('web', 'api', 'smtp')),
    reporter        text NOT NULL,
    reporter_key    text NOT NULL,
    category        text NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    source_ip       inet NOT NULL,
    tenant          text,
    tenant_proof    text,
    case_key        text NOT NULL,
    mail_from       text,
    header_from     text,
    message_id      text,
    message_id_hash bytea,
    sample_sha256   bytea NOT NULL,
    feedback_type   text,
    trusted         boolean NOT NULL DEFAULT false,
    trust_reason    text,
    duplicate_of    text REFERENCES reports (request_id),
    summary         jsonb NOT NULL
  )`,
  `CREATE INDEX reports_case_window ON reports (case_key, received_at) WHERE duplicate_of IS NULL`,
  `CREATE INDEX reports_case_message ON reports (case_key, message_id_hash) WHERE message_id_hash IS NOT NULL`,
  `CREATE INDEX reports_case_sample ON reports (case_key, sample_sha256)`,
  `CREATE INDEX reports_source_ip ON reports USING gist (source_ip inet_ops)`,
  `CREATE INDEX reports_received ON reports (received_at)`,

  `CREATE TABLE evidence (
    report_id    text PRIMARY KEY REFERENCES reports (request_id) ON DELETE CASCADE,
    sample       bytea NOT NULL,
    compression  text NOT NULL CHECK (compression IN ('gzip', 'none')),
    size_bytes   integer NOT NULL CHECK (size_bytes >= 0),
    sha256       bytea NOT NULL CHECK (octet_length(sha256) = 32),
    stored_at    timestamptz NOT NULL DEFAULT now(),
    retain_until timestamptz NOT NULL
  )`,
  // Samples arrive compressed: TOAST keeps them out of line without compressing them a second time.
  `ALTER TABLE evidence ALTER COLUMN sample SET STORAGE EXTERNAL`,
  `CREATE INDEX evidence_retention ON evidence (retain_until)`,

  `CREATE TABLE ticket_reports (
    ticket_id   text NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    report_id   text NOT NULL REFERENCES reports (request_id) ON DELETE CASCADE,
    attached_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (ticket_id, report_id)
  )`,
  `CREATE INDEX ticket_reports_report ON ticket_reports (report_id)`,

  `CREATE TABLE report_drafts (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{16}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    email       text NOT NULL,
    category    text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    lang        text NOT NULL,
    summary     jsonb NOT NULL,
    sample      bytea NOT NULL,
    compression text NOT NULL CHECK (compression IN ('gzip', 'none'))
  )`,
  `ALTER TABLE report_drafts ALTER COLUMN sample SET STORAGE EXTERNAL`,
  `CREATE INDEX report_drafts_expires ON report_drafts (expires_at)`,

  // -- The tenant directory ----------------------------------------------------------------------------------------
  `CREATE TABLE tenants (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9._-]{1,64}$'),
    name       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE TABLE tenant_domains (
    domain        text PRIMARY KEY CHECK (domain = lower(domain) AND domain !~ '\\.$' AND domain <> ''),
    tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    registered_at timestamptz NOT NULL DEFAULT now()
  )`,
  `CREATE INDEX tenant_domains_tenant ON tenant_domains (tenant_id)`,
  `CREATE TABLE tenant_contacts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email      text NOT NULL CHECK (email = lower(email)),
    name       text NOT NULL DEFAULT '',
    role       text NOT NULL DEFAULT 'abuse' CHECK (role IN ('abuse', 'technical', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email, role)
  )`,
  `CREATE TABLE tenant_feedback_ids (
    identifier text PRIMARY KEY CHECK (identifier <> ''),
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
  )`,
  `CREATE INDEX tenant_feedback_ids_tenant ON tenant_feedback_ids (tenant_id)`,
  `CREATE TABLE tenant_verp_patterns (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    pattern   text NOT NULL UNIQUE CHECK (pattern <> '')
  )`,
  `CREATE INDEX tenant_verp_patterns_tenant ON tenant_verp_patterns (tenant_id)`,

  // -- Routing datasets: written only by the routing publisher, one transaction per change -------------------------
  `CREATE TABLE blocklist_entries (
    cidr       cidr PRIMARY KEY,
    category   text NOT NULL,
    reason     text NOT NULL,
    source     text NOT NULL,
    note       text,
    listed_at  timestamptz NOT NULL,
    expires_at timestamptz
  )`,
  `CREATE INDEX blocklist_entries_contains ON blocklist_entries USING gist (cidr inet_ops)`,
  `CREATE INDEX blocklist_entries_expires ON blocklist_entries (expires_at) WHERE expires_at IS NOT NULL`,

  `CREATE TABLE blocklist_exclusions (
    cidr         cidr PRIMARY KEY,
    reason       text NOT NULL,
    source       text NOT NULL,
    listing_cidr cidr,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz
  )`,
  `CREATE INDEX blocklist_exclusions_contains ON blocklist_exclusions USING gist (cidr inet_ops)`,
  `CREATE INDEX blocklist_exclusions_listing ON blocklist_exclusions (listing_cidr) WHERE listing_cidr IS NOT NULL`,
  `CREATE INDEX blocklist_exclusions_expires ON blocklist_exclusions (expires_at) WHERE expires_at IS NOT NULL`,

  `CREATE TABLE allow_entries (
    cidr       cidr PRIMARY KEY,
    reason     text NOT NULL,
    added_by   text NOT NULL,
    created_at timestamptz NOT NULL,
    review_by  date NOT NULL
  )`,
  `CREATE INDEX allow_entries_contains ON allow_entries USING gist (cidr inet_ops)`,
  `CREATE INDEX allow_entries_review ON allow_entries (review_by)`,

  `CREATE TABLE pool_assignments (
    kind        text NOT NULL CHECK (kind IN ('tenant', 'domain')),
    key         text NOT NULL CHECK (key <> ''),
    pool        text NOT NULL CHECK (pool IN ('normal', 'high-risk', 'relay')),
    reason      text NOT NULL,
    source      text NOT NULL,
    assigned_at timestamptz NOT NULL,
    expires_at  timestamptz,
    PRIMARY KEY (kind, key)
  )`,
  `CREATE INDEX pool_assignments_expires ON pool_assignments (expires_at) WHERE expires_at IS NOT NULL`,

  `CREATE TABLE restrictions (
    tenant      text PRIMARY KEY CHECK (tenant ~ '^[A-Za-z0-9._-]{1,64}$'),
    restriction text NOT NULL CHECK (restriction IN ('unregistered-domains')),
    state       text NOT NULL CHECK (state IN ('blocked', 'probation')),
    reason      text NOT NULL,
    source      text NOT NULL,
    since       timestamptz NOT NULL,
    expires_at  timestamptz,
    CHECK (state = 'blocked' OR expires_at IS NOT NULL)
  )`,

  // The version every routing change takes, as a row: its lock orders publishers, so versions commit in order.
  `CREATE TABLE routing_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0 CHECK (version >= 0)
  )`,
  `INSERT INTO routing_state DEFAULT VALUES`,
  `CREATE TABLE routing_feed (
    version bigint PRIMARY KEY CHECK (version > 0),
    at      timestamptz NOT NULL DEFAULT now(),
    changes jsonb NOT NULL CHECK (jsonb_typeof(changes) = 'array')
  )`,

  // -- History of the lists, and the self-delist budget -------------------------------------------------------------
  `CREATE TABLE listing_history (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cidr       cidr NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    action     text NOT NULL CHECK (action IN ('listed', 'removed', 'excluded', 'self-delisted')),
    actor      text NOT NULL,
    detail     text NOT NULL DEFAULT '',
    request_id text REFERENCES requests (id) ON DELETE SET NULL
  )`,
  `CREATE INDEX listing_history_cidr ON listing_history (cidr, id)`,
  `CREATE INDEX listing_history_contains ON listing_history USING gist (cidr inet_ops)`,

  `CREATE TABLE self_delists (
    request_id text PRIMARY KEY REFERENCES requests (id) ON DELETE CASCADE,
    ip         inet NOT NULL,
    at         timestamptz NOT NULL
  )`,
  `CREATE INDEX self_delists_ip ON self_delists (ip, at)`,

  // -- The audit log: appended to in the transaction of the change it records; never rewritten ----------------------
  `CREATE TABLE audit_log (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    actor  text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    reason text NOT NULL DEFAULT '',
    before jsonb,
    after  jsonb
  )`,
  `CREATE INDEX audit_log_at ON audit_log (at)`,
  `CREATE INDEX audit_log_target ON audit_log (target, id)`,
  `CREATE INDEX audit_log_actor ON audit_log (actor, id)`,
  `CREATE INDEX audit_log_action ON audit_log (action, id)`,
  `CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
  END
  $$`,
  `CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()`,

  // -- The job outbox: written with the change that calls for the job, relayed into BullMQ by the worker -------------
  `CREATE TABLE job_outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue      text NOT NULL,
    job_name   text NOT NULL,
    job_id     text NOT NULL,
    payload    jsonb NOT NULL,
    run_at     timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    handed_at  timestamptz,
    done_at    timestamptz,
    CHECK (done_at IS NULL OR handed_at IS NOT NULL)
  )`,
  `CREATE UNIQUE INDEX job_outbox_job ON job_outbox (queue, job_id)`,
  `CREATE INDEX job_outbox_to_hand ON job_outbox (id) WHERE handed_at IS NULL`,
  `CREATE INDEX job_outbox_in_flight ON job_outbox (handed_at) WHERE handed_at IS NOT NULL AND done_at IS NULL`,
  `CREATE INDEX job_outbox_done ON job_outbox (done_at) WHERE done_at IS NOT NULL`,

  // Wakes whoever LISTENs on "<schema>.<table>" when a transaction that wrote to it commits (not before, never on a
  // rollback; several inserts of one transaction wake once). The relay listens on job_outbox, feed consumers on
  // routing_feed. The channel carries the schema so tests in schemas of their own do not wake each other.
  `CREATE FUNCTION notify_committed() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, '');
    RETURN NULL;
  END
  $$`,
  `CREATE TRIGGER job_outbox_notify AFTER INSERT ON job_outbox FOR EACH STATEMENT EXECUTE FUNCTION notify_committed()`,
  `CREATE TRIGGER routing_feed_notify AFTER INSERT ON routing_feed FOR EACH STATEMENT EXECUTE FUNCTION notify_committed()`,
];

const TABLES = [
  'job_outbox', 'audit_log', 'self_delists', 'listing_history', 'routing_feed', 'routing_state', 'restrictions',
  'pool_assignments', 'allow_entries', 'blocklist_exclusions', 'blocklist_entries', 'tenant_verp_patterns',
  'tenant_feedback_ids', 'tenant_contacts', 'tenant_domains', 'tenants', 'report_drafts', 'ticket_reports', 'evidence',
  'reports', 'ticket_replies', 'ticket_events', 'ticket_counts', 'tickets', 'api_tokens', 'staff_users', 'challenges', 'request_events',
  'requests',
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) await sql`DROP TABLE ${sql.id(table)}`.execute(db);
  await sql`DROP FUNCTION notify_committed()`.execute(db);
  await sql`DROP FUNCTION audit_log_append_only()`.execute(db);
  await sql`DROP FUNCTION ticket_counts_track()`.execute(db);
}
