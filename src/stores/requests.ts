import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { JobIntent } from '../jobs/enqueue.js';
import type { Database, RequestsTable } from '../db/schema.js';
import { randomId } from '../domain/random.js';

export type RequestType = 'delist' | 'report' | 'unblock' | 'contact';
export type RequestState = 'awaiting_confirmation' | 'queued' | 'delisted' | 'not_listed' | 'needs_review' | 'refused' | 'received' | 'duplicate' | 'approved' | 'closed';
/** States the automation never leaves (staff may still move a needs_review request on). */
export const FINAL_STATES: readonly RequestState[] = ['delisted', 'not_listed', 'needs_review', 'refused', 'received', 'duplicate', 'approved', 'closed'];

export interface RequestEvent {
  at: string;
  state: RequestState;
  /** The step in English, as written (staff pages, logs; the only text of rows written before issue 16). */
  message: string;
  /** The step as a message key and its parameters (JSON text), said in each reader's language. */
  key?: string;
  params?: string;
}

/** A timeline step: English text only, or with its message key and parameters (the public pages and mails use the key). */
export type StepMessage = string | { text: string; key: string; params?: Record<string, unknown> };

export interface PortalRequest {
  id: string;
  type: RequestType;
  state: RequestState;
  /** The verified email of a person; empty for machine reports (see `reporter`). */
  email: string;
  /** Delist: the IP to remove. Report: the source IP where the message left us. Empty for an unblock. */
  ip: string;
  createdAt: string;
  updatedAt: string;
  /** Random id from which the emailed confirmation token is derived (never the token itself); empty without a challenge. */
  challengeId: string;
  /** The language the requester used (en, ko, zh-TW): their mails are written in it. */
  lang?: string;
  reason?: string;
  /** The reason as a message key (`reason.<code>`) and its parameters as JSON, for the requester's language. */
  reasonCode?: string;
  reasonParams?: string;
  ticketId?: string;
  /** Reports: how it came (web, api, smtp), who sent it, and what we parsed (JSON of ReportSummary). */
  channel?: 'web' | 'api' | 'smtp';
  reporter?: string;
  category?: string;
  comment?: string;
  tenant?: string;
  parsed?: string;
  /** Machine reports: the transport facts (JSON of ReportOrigin: channel, client IP, SMTP user, MAIL FROM, token name). */
  origin?: string;
  /** Reports: whom we believe and why (JSON of ReportTrust, src/domain/report-trust.ts); the reporter part is set at intake. */
  trust?: string;
}

/** The fields a state change may set beside the state. */
export type RequestUpdate = Partial<Pick<PortalRequest, 'reason' | 'reasonCode' | 'reasonParams' | 'ticketId' | 'trust'>>;

/** Request ids are random and unguessable: a status URL is a capability, not a counter. */
export const newId = (bytes = 12) => randomId(bytes);
export const isRequestId = (s: string) => /^[A-Za-z0-9_-]{16}$/.test(s);

const DAY_MS = 86_400_000;
const json = (s: string | undefined) => (s === undefined ? undefined : s === '' ? null : s);

/** The columns of a request's optional fields (a JSON text field is written as jsonb). */
function columnsOf(r: RequestUpdate & Partial<PortalRequest>) {
  return {
    ...(r.reason !== undefined && { reason: r.reason }),
    ...(r.reasonCode !== undefined && { reason_code: r.reasonCode || null }),
    ...(r.reasonParams !== undefined && { reason_params: json(r.reasonParams) }),
    ...(r.ticketId !== undefined && { ticket_id: r.ticketId }),
    ...(r.trust !== undefined && { trust: json(r.trust) }),
  };
}

const unpack = (sample: Buffer, compression: 'gzip' | 'none') => (compression === 'gzip' ? gunzipSync(sample) : sample);
const text = (v: unknown) => (v === null || v === undefined ? undefined : typeof v === 'string' ? v : JSON.stringify(v));

function requestOf(row: Selectable<RequestsTable> & { challenge_id: string | null }): PortalRequest {
  const r: PortalRequest = {
    id: row.id,
    type: row.type,
    state: row.state,
    email: row.email ?? '',
    ip: row.ip ?? '',
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    challengeId: row.challenge_id ?? '',
  };
  const optional: Partial<PortalRequest> = {
    lang: text(row.lang),
    reason: text(row.reason),
    reasonCode: text(row.reason_code),
    reasonParams: text(row.reason_params),
    ticketId: text(row.ticket_id),
    channel: row.channel ?? undefined,
    reporter: text(row.reporter),
    category: text(row.category),
    comment: text(row.comment),
    tenant: text(row.tenant),
    parsed: text(row.parsed),
    origin: text(row.origin),
    trust: text(row.trust),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (r as unknown as Record<string, unknown>)[k] = v;
  return r;
}

/**
 * Requests made through the portal (delist, report, unblock), their timelines and the evidence a report came with.
 * Methods named `…In` take the transaction of the use case that calls them.
 */
export class RequestStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates a request and its first event. */
  async createIn(db: Kysely<Database>, request: PortalRequest, message: string): Promise<void> {
    await db
      .insertInto('requests')
      .values({
        id: request.id,
        type: request.type,
        state: request.state,
        email: request.email || null,
        ip: request.ip || null,
        tenant: request.tenant ?? null,
        lang: request.lang ?? null,
        comment: request.comment ?? null,
        channel: request.channel ?? null,
        reporter: request.reporter ?? null,
        category: request.category ?? null,
        parsed: json(request.parsed) ?? null,
        origin: json(request.origin) ?? null,
        created_at: request.createdAt,
        updated_at: request.updatedAt,
        ...columnsOf(request),
      })
      .execute();
    await db.insertInto('request_events').values({ request_id: request.id, at: request.createdAt, state: request.state, message }).execute();
  }

  /**
   * Writes a new request, its first event, its challenge and its first job's outbox entry in ONE statement (so one
   * transaction, all or nothing). The public delist form's path: the same four inserts as a transaction of
   * statements cost about four times the CPU per submission (measured: ~800 µs against ~200 µs), which decided the
   * form's p99 at 200 submissions/s (`npm run bench -- load`).
   */
  async createWithChallengeAndJob(db: Kysely<Database>, request: PortalRequest, message: string, challenge: { id: string; tokenHash: Buffer; expiresAt: Date }, job: JobIntent): Promise<void> {
    await sql`
      WITH request AS (
        INSERT INTO requests (id, type, state, email, ip, lang, created_at, updated_at)
        VALUES (${request.id}, ${request.type}, ${request.state}, ${request.email || null}, ${request.ip || null}, ${request.lang ?? null}, ${request.createdAt}, ${request.updatedAt})
        RETURNING id
      ), event AS (
        INSERT INTO request_events (request_id, at, state, message) SELECT id, ${request.createdAt}, ${request.state}, ${message} FROM request
      ), challenge AS (
        INSERT INTO challenges (id, request_id, token_hash, created_at, expires_at) SELECT ${challenge.id}, id, ${challenge.tokenHash}, ${request.createdAt}, ${challenge.expiresAt} FROM request
      )
      INSERT INTO job_outbox (queue, job_name, job_id, payload, run_at)
      SELECT ${job.queue}, ${job.name}, ${job.jobId}, ${JSON.stringify(job.data)}::jsonb, ${job.runAt ?? null} FROM request
      ON CONFLICT (queue, job_id) DO NOTHING`.execute(db);
  }

  /**
   * Moves a request to `state` with `message` on its timeline (and the fields of `extra`): one statement. The step
   * keeps a message key: the one given, else the reason's (`reason.<code>` and its parameters) when `extra` sets one.
   */
  async transitionIn(db: Kysely<Database>, id: string, state: RequestState, message: StepMessage, extra: RequestUpdate = {}, at = new Date()): Promise<void> {
    const text = typeof message === 'string' ? message : message.text;
    const key = typeof message === 'string' ? (extra.reasonCode ? `reason.${extra.reasonCode}` : null) : message.key;
    const params = typeof message === 'string' ? (extra.reasonCode && extra.reasonParams ? extra.reasonParams : null) : message.params ? JSON.stringify(message.params) : null;
    const result = await db
      .with('moved', (q) => q.updateTable('requests').set({ state, updated_at: at, ...columnsOf(extra) }).where('id', '=', id).returning('id'))
      .insertInto('request_events')
      .columns(['request_id', 'at', 'state', 'message', 'message_key', 'message_params'])
      .expression((eb) =>
        eb.selectFrom('moved').select((s) => ['moved.id', s.val(at).as('at'), s.val(state).as('state'), s.val(text).as('message'), s.val(key).as('message_key'), sql<string | null>`${params}::jsonb`.as('message_params')]),
      )
      .executeTakeFirst();
    if (!result.numInsertedOrUpdatedRows) throw new Error(`request ${id} does not exist`);
  }

  /**
   * Moves those of `ids` still in one of `from` to `state`, each with its event, in two statements whatever their
   * number (a case may hold thousands of reports); returns the ids moved and their emails.
   */
  async transitionManyIn(db: Kysely<Database>, ids: string[], from: readonly RequestState[], state: RequestState, message: string, extra: Pick<RequestUpdate, 'reason' | 'reasonCode' | 'reasonParams'>, at = new Date()): Promise<Array<{ id: string; email: string }>> {
    const moved: Array<{ id: string; email: string }> = [];
    for (let i = 0; i < ids.length; i += 5000) {
      const chunk = ids.slice(i, i + 5000);
      const rows = await db.updateTable('requests').set({ state, updated_at: at, ...columnsOf(extra) }).where('id', 'in', chunk).where('state', 'in', [...from]).returning(['id', 'email']).execute();
      if (!rows.length) continue;
      // The step said in each reader's language (issue 16): the reason's key and parameters.
      const key = extra.reasonCode ? { message_key: `reason.${extra.reasonCode}`, message_params: extra.reasonParams || null } : {};
      await db.insertInto('request_events').values(rows.map((r) => ({ request_id: r.id, at, state, message, ...key }))).execute();
      moved.push(...rows.map((r) => ({ id: r.id, email: r.email ?? '' })));
    }
    return moved;
  }

  /** The requests of one ticket now belong to another (a merged case): their mails refer to it. */
  async moveToTicketIn(db: Kysely<Database>, fromTicketId: string, toTicketId: string): Promise<void> {
    await db.updateTable('requests').set({ ticket_id: toTicketId }).where('ticket_id', '=', fromTicketId).execute();
  }

  /** Keeps the sample of a report as evidence, gzip-compressed, until `retentionDays` from now. */
  async storeSampleIn(db: Kysely<Database>, id: string, raw: Buffer, retentionDays: number, now = new Date()): Promise<void> {
    await db
      .insertInto('evidence')
      .values({ report_id: id, sample: gzipSync(raw), compression: 'gzip', size_bytes: raw.length, sha256: createHash('sha256').update(raw).digest(), stored_at: now, retain_until: new Date(now.getTime() + retentionDays * DAY_MS) })
      .onConflict((oc) => oc.column('report_id').doNothing())
      .execute();
  }

  /** The raw sample of a report (null once its retention ended). */
  async sample(id: string): Promise<Buffer | null> {
    if (!isRequestId(id)) return null;
    const row = await this.db.selectFrom('evidence').select(['sample', 'compression']).where('report_id', '=', id).executeTakeFirst();
    return row ? unpack(row.sample, row.compression) : null;
  }

  /** A request and its report's raw sample (null without one, or once its retention ended), read together. */
  async getWithSample(id: string): Promise<{ request: PortalRequest; sample: Buffer | null } | null> {
    if (!isRequestId(id)) return null;
    const row = await this.db
      .selectFrom('requests')
      .leftJoin('challenges', 'challenges.request_id', 'requests.id')
      .leftJoin('evidence', 'evidence.report_id', 'requests.id')
      .selectAll('requests')
      .select(['challenges.id as challenge_id', 'evidence.sample', 'evidence.compression'])
      .where('requests.id', '=', id)
      .executeTakeFirst();
    if (!row) return null;
    const { sample, compression, ...request } = row;
    return { request: requestOf(request), sample: sample === null ? null : unpack(sample, compression!) };
  }

  /** Deletes samples whose retention ended (the report's metadata stays); returns how many. */
  async deleteExpiredSamples(now = new Date()): Promise<number> {
    const result = await this.db.deleteFrom('evidence').where('retain_until', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async get(id: string, db: Kysely<Database> = this.db): Promise<PortalRequest | null> {
    if (!isRequestId(id)) return null;
    const row = await db
      .selectFrom('requests')
      .leftJoin('challenges', 'challenges.request_id', 'requests.id')
      .selectAll('requests')
      .select('challenges.id as challenge_id')
      .where('requests.id', '=', id)
      .executeTakeFirst();
    return row ? requestOf(row) : null;
  }

  /** One field of many requests (null where missing), in the order asked. */
  async fieldOfMany(ids: string[], field: keyof PortalRequest): Promise<Array<string | null>> {
    const valid = ids.filter(isRequestId);
    if (!valid.length) return ids.map(() => null);
    const rows = await this.db
      .selectFrom('requests')
      .leftJoin('challenges', 'challenges.request_id', 'requests.id')
      .selectAll('requests')
      .select('challenges.id as challenge_id')
      .where('requests.id', 'in', valid)
      .execute();
    const byId = new Map(rows.map((row) => [row.id, requestOf(row)]));
    return ids.map((id) => {
      const v = byId.get(id)?.[field];
      return v === undefined ? null : String(v);
    });
  }

  /** The requests that named an address (delist requests, reports from it), newest first, up to `limit`. */
  async aboutIp(ip: string, limit = 100): Promise<Array<{ id: string; type: string; state: string; email: string | null; createdAt: string; ticketId: string | null }>> {
    const rows = await this.db
      .selectFrom('requests')
      .leftJoin('tickets', 'tickets.request_id', 'requests.id')
      .select(['requests.id', 'requests.type', 'requests.state', 'requests.email', 'requests.created_at', 'tickets.id as ticket_id'])
      .where('requests.ip', '=', ip)
      .orderBy('requests.created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ id: r.id, type: r.type, state: r.state, email: r.email, createdAt: r.created_at.toISOString(), ticketId: r.ticket_id }));
  }

  async events(id: string): Promise<RequestEvent[]> {
    if (!isRequestId(id)) return [];
    const rows = await this.db.selectFrom('request_events').select(['at', 'state', 'message', 'message_key', 'message_params']).where('request_id', '=', id).orderBy('id').execute();
    return rows.map((r) => ({ at: r.at.toISOString(), state: r.state as RequestState, message: r.message, ...(r.message_key && { key: r.message_key }), ...(r.message_params != null && { params: text(r.message_params) }) }));
  }
}
