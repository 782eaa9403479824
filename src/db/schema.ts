import type { ColumnType, Generated, GeneratedAlways, Insertable, Selectable, Updateable } from 'kysely';

/**
 * The tables of migrations/ as Kysely sees them (docs/architecture.md, "Data model (PostgreSQL)"). Keep this in step
 * with the migrations: a new migration changes the tables here too.
 *
 * How values travel (src/db/connection.ts sets the parsers):
 * - timestamptz: read as Date; written as Date or an ISO string.
 * - bigint (identity ids, versions): read as number (safe below 2^53; the parser throws above).
 * - date: read and written as 'YYYY-MM-DD' text.
 * - inet/cidr: text. Select `cidr::inet` to read a network as the app's canonical text (a host without its /32 or /128).
 * - bytea: Buffer.
 * - jsonb: read parsed; written as a JSON string (JSON.stringify it: pg would turn a JS array into a PostgreSQL array).
 */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type CreatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
export type Json<T> = ColumnType<T, string, string>;
export type Id = GeneratedAlways<number>;

export interface RequestsTable {
  id: string;
  type: 'delist' | 'report' | 'unblock' | 'contact';
  state: 'awaiting_confirmation' | 'queued' | 'delisted' | 'not_listed' | 'needs_review' | 'refused' | 'received' | 'duplicate' | 'approved' | 'closed';
  /** The requester's email; null for machine reports. */
  email: string | null;
  /** Delist: the address to remove. Report: where the message left our network. */
  ip: string | null;
  tenant: string | null;
  lang: string | null;
  /** The requester's own words (report comment, unblock evidence). */
  comment: string | null;
  reason: string | null;
  reason_code: string | null;
  reason_params: Json<Record<string, unknown>> | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
  /** migrations/0003_records.ts: the ticket the request became; a report's intake facts. */
  ticket_id: string | null;
  channel: 'web' | 'api' | 'smtp' | null;
  reporter: string | null;
  category: string | null;
  parsed: Json<Record<string, unknown>> | null;
  origin: Json<Record<string, unknown>> | null;
  trust: Json<Record<string, unknown>> | null;
}

export interface RequestEventsTable {
  id: Id;
  request_id: string;
  at: CreatedAt;
  state: string;
  message: string;
  /** The step as a message key and its parameters (issue 16); null on rows written before, which show their state. */
  message_key: string | null;
  message_params: Json<Record<string, unknown>> | null;
}

export interface ChallengesTable {
  /** Random; the emailed token is HMAC(secret, id), so a job carrying the request id can rebuild the link. */
  id: string;
  request_id: string;
  /** SHA-256 of the token (32 bytes): the link is looked up by it, the token itself is never stored. */
  token_hash: Buffer;
  created_at: CreatedAt;
  expires_at: Timestamp;
  used_at: Timestamp | null;
}

export interface StaffUsersTable {
  id: Id;
  email: string;
  role: 'viewer' | 'triager' | 'admin';
  password_hash: string;
  /** Bumped to end every session of the user (sessions carry the version they started with). */
  session_version: Generated<number>;
  /** Disabled when set. */
  disabled_at: Timestamp | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface ApiTokensTable {
  id: Id;
  name: string;
  token_hash: Buffer;
  created_at: CreatedAt;
  created_by: Generated<string>;
  revoked_at: Timestamp | null;
  revoked_by: string | null;
}

export interface TicketsTable {
  id: string;
  kind: 'delist-review' | 'abuse-case' | 'tenant-unblock' | 'contact';
  state: Generated<'open' | 'closed'>;
  severity: Generated<'normal' | 'critical'>;
  /** 0 critical, 1 normal (generated): the severity sort's index key. */
  severity_rank: GeneratedAlways<number>;
  subject: string;
  reason: string;
  resolution: string | null;
  request_id: string | null;
  /** Abuse cases: the tenant, or `ip-<source>` when the mail named none. */
  case_key: string | null;
  ip: string | null;
  tenant: string | null;
  email: string | null;
  category: string | null;
  assignee_id: number | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
  /** The SLA: when staff must have acted. */
  due_at: Timestamp;
  closed_at: Timestamp | null;
  /** migrations/0011: the first staff action or reply (TicketStore sets it once); the dashboard's time to first response. */
  first_response_at: Timestamp | null;
}

/** Tickets per state and kind (the queue's tabs), kept by triggers on tickets: read it, never write it. */
export interface TicketCountsTable {
  state: 'open' | 'closed';
  kind: 'delist-review' | 'abuse-case' | 'tenant-unblock' | 'contact';
  n: number;
}

export interface TicketEventsTable {
  id: Id;
  ticket_id: string;
  at: CreatedAt;
  actor: string;
  /** 'note' is an internal note; 'action' a staff action; 'system' what the automation did; 'requester' an answer by mail (0009). */
  type: 'system' | 'action' | 'note' | 'requester';
  message: string;
}

export interface TicketRepliesTable {
  /** The mail job of each recipient refers to the reply by this id. */
  id: Id;
  ticket_id: string;
  at: CreatedAt;
  author: string;
  template: 'update' | 'need-info' | 'resolved';
  body: string;
  /** Our own wording as a message key and its parameters (the mail says it in the requester's language); null for a staff member's own text. */
  body_key: string | null;
  body_params: Json<Record<string, unknown>> | null;
}

export interface ReportsTable {
  request_id: string;
  channel: 'web' | 'api' | 'smtp';
  /** Who sent it, as staff see it (email, token name, MAIL FROM via client address). */
  reporter: string;
  /** The reporter's identity normalised for counting distinct reporters. */
  reporter_key: string;
  category: string;
  received_at: CreatedAt;
  source_ip: string;
  tenant: string | null;
  /** How the tenant is known (e.g. our DKIM signature, Feedback-ID, VERP, the bare header). */
  tenant_proof: string | null;
  case_key: string;
  mail_from: string | null;
  header_from: string | null;
  message_id: string | null;
  message_id_hash: Buffer | null;
  sample_sha256: Buffer;
  feedback_type: string | null;
  trusted: Generated<boolean>;
  trust_reason: string | null;
  duplicate_of: string | null;
  /** The bounded parsed summary shown to staff. */
  summary: Json<Record<string, unknown>>;
}

export interface EvidenceTable {
  report_id: string;
  /** The raw message, compressed as `compression` says. */
  sample: Buffer;
  compression: 'gzip' | 'none';
  size_bytes: number;
  sha256: Buffer;
  stored_at: CreatedAt;
  /** The maintenance job deletes the sample after this. */
  retain_until: Timestamp;
}

export interface TicketReportsTable {
  ticket_id: string;
  report_id: string;
  attached_at: CreatedAt;
}

export interface ReportDraftsTable {
  id: string;
  created_at: CreatedAt;
  expires_at: Timestamp;
  email: string;
  category: string;
  comment: Generated<string>;
  lang: string;
  summary: Json<Record<string, unknown>>;
  sample: Buffer;
  compression: 'gzip' | 'none';
}

export interface TenantsTable {
  id: string;
  name: Generated<string>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface TenantDomainsTable {
  domain: string;
  tenant_id: string;
  registered_at: CreatedAt;
}

export interface TenantContactsTable {
  id: Id;
  tenant_id: string;
  email: string;
  name: Generated<string>;
  role: Generated<'abuse' | 'technical' | 'admin'>;
  created_at: CreatedAt;
}

export interface TenantFeedbackIdsTable {
  /** The sender identifier our MTAs put in the Feedback-ID header for this tenant. */
  identifier: string;
  tenant_id: string;
}

export interface TenantVerpPatternsTable {
  id: Id;
  tenant_id: string;
  /** A POSIX regular expression matched against the lower-cased 5321.MailFrom (the store anchors and validates it). */
  pattern: string;
}

export interface BlocklistEntriesTable {
  cidr: string;
  category: string;
  reason: string;
  source: string;
  note: string | null;
  listed_at: Timestamp;
  expires_at: Timestamp | null;
  /** The entry as snapshot JSON, kept by a trigger (migration 0008). */
  entry_json: Generated<string>;
}

export interface BlocklistExclusionsTable {
  cidr: string;
  reason: string;
  source: string;
  /** The listing a self-service exclusion punches (it goes when that listing goes or is listed again). */
  listing_cidr: string | null;
  created_at: Timestamp;
  expires_at: Timestamp | null;
  /** The entry as snapshot JSON, kept by a trigger (migration 0008). */
  entry_json: Generated<string>;
}

export interface AllowEntriesTable {
  cidr: string;
  reason: string;
  added_by: string;
  created_at: Timestamp;
  /** YYYY-MM-DD. */
  review_by: string;
}

export interface PoolAssignmentsTable {
  kind: 'tenant' | 'domain';
  key: string;
  pool: 'normal' | 'high-risk' | 'relay';
  reason: string;
  source: string;
  assigned_at: Timestamp;
  expires_at: Timestamp | null;
}

export interface RestrictionsTable {
  tenant: string;
  restriction: 'unregistered-domains';
  state: 'blocked' | 'probation';
  reason: string;
  source: string;
  since: Timestamp;
  expires_at: Timestamp | null;
}

export interface RoutingStateTable {
  singleton: Generated<boolean>;
  version: Generated<number>;
}

export interface RoutingFeedTable {
  version: number;
  at: CreatedAt;
  /** The RoutingChange list of this version, as the feed API serves it. */
  changes: Json<unknown[]>;
}

export interface ListingHistoryTable {
  id: Id;
  cidr: string;
  at: CreatedAt;
  action: 'listed' | 'removed' | 'excluded' | 'self-delisted';
  actor: string;
  detail: Generated<string>;
  request_id: string | null;
}

export interface SelfDelistsTable {
  request_id: string;
  ip: string;
  at: Timestamp;
}

export interface AuditLogTable {
  id: Id;
  at: CreatedAt;
  actor: string;
  action: string;
  target: string;
  reason: Generated<string>;
  before: Json<unknown> | null;
  after: Json<unknown> | null;
}

export interface JobOutboxTable {
  id: Id;
  queue: string;
  job_name: string;
  /** BullMQ's job id: fixed by the entry, so a second hand-over of the same entry adds no second job. */
  job_id: string;
  /** The job's data (ids only, like every job). */
  payload: Json<Record<string, unknown>>;
  /** A delayed job (entry expiry) runs from this time. */
  run_at: Timestamp | null;
  created_at: CreatedAt;
  /** Last handed to BullMQ. */
  handed_at: Timestamp | null;
  /** Its job finished (completed, or failed for good). */
  done_at: Timestamp | null;
}

export interface Database {
  requests: RequestsTable;
  request_events: RequestEventsTable;
  challenges: ChallengesTable;
  staff_users: StaffUsersTable;
  api_tokens: ApiTokensTable;
  tickets: TicketsTable;
  ticket_counts: TicketCountsTable;
  ticket_events: TicketEventsTable;
  ticket_replies: TicketRepliesTable;
  reports: ReportsTable;
  evidence: EvidenceTable;
  ticket_reports: TicketReportsTable;
  report_drafts: ReportDraftsTable;
  tenants: TenantsTable;
  tenant_domains: TenantDomainsTable;
  tenant_contacts: TenantContactsTable;
  tenant_feedback_ids: TenantFeedbackIdsTable;
  tenant_verp_patterns: TenantVerpPatternsTable;
  blocklist_entries: BlocklistEntriesTable;
  blocklist_exclusions: BlocklistExclusionsTable;
  allow_entries: AllowEntriesTable;
  pool_assignments: PoolAssignmentsTable;
  restrictions: RestrictionsTable;
  routing_state: RoutingStateTable;
  routing_feed: RoutingFeedTable;
  listing_history: ListingHistoryTable;
  self_delists: SelfDelistsTable;
  audit_log: AuditLogTable;
  job_outbox: JobOutboxTable;
}

export type Row<T extends keyof Database> = Selectable<Database[T]>;
export type NewRow<T extends keyof Database> = Insertable<Database[T]>;
export type RowUpdate<T extends keyof Database> = Updateable<Database[T]>;
