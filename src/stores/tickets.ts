import { sql, type Expression, type Kysely, type Selectable, type SqlBool } from 'kysely';
import type { Database, TicketRepliesTable, TicketsTable } from '../db/schema.js';
import { parseNetwork } from '../domain/ip.js';
import type { Policy } from '../policy.js';

export const TICKET_KINDS = ['delist-review', 'abuse-case', 'tenant-unblock', 'contact'] as const;
export type TicketKind = (typeof TICKET_KINDS)[number];
export type Severity = 'normal' | 'critical';
export type TicketState = 'open' | 'closed';
export const SORTS = ['sla', 'severity', 'age'] as const;
export type Sort = (typeof SORTS)[number];
export const FILTER_FIELDS = ['ip', 'tenant', 'email', 'category'] as const;
export type FilterField = (typeof FILTER_FIELDS)[number];

export interface Ticket {
  id: string;
  kind: TicketKind;
  state: TicketState;
  severity: Severity;
  subject: string;
  reason: string;
  createdAt: string;
  slaDueAt: string;
  resolution?: string;
  /** delist-review, tenant-unblock: the request it came from. */
  requestId?: string;
  /** abuse-case: the tenant (or `ip-<source>` when the mail carried no tenant). */
  caseKey?: string;
  /** Exact-match filters of the triage queue. */
  ip?: string;
  tenant?: string;
  email?: string;
  category?: string;
}

export interface TicketEvent {
  at: string;
  actor: string;
  message: string;
  /** 'note' (internal), 'reply' (mailed to the requester: table ticket_replies), 'action', 'system', 'requester' (their answer by mail). */
  type?: 'note' | 'reply' | 'action' | 'system' | 'requester';
  /** Replies: their id (the mail job refers to it), and the kind of update (each has its own mail template wording). */
  id?: string;
  template?: ReplyTemplate;
  /** Replies in our own wording: the message key and its parameters (JSON text), mailed in the requester's language. */
  key?: string;
  params?: string;
}

export const REPLY_TEMPLATES = ['update', 'need-info', 'resolved'] as const;
export type ReplyTemplate = (typeof REPLY_TEMPLATES)[number];

export interface QueueQuery {
  state: TicketState;
  kind?: TicketKind;
  sort: Sort;
  filters: Partial<Record<FilterField, string>>;
  after?: string;
  limit: number;
}

export interface QueuePage {
  tickets: Ticket[];
  /** The cursor of the next page (the last row's sort key and id), or null on the last page. */
  next: string | null;
}

export interface NewReply {
  at: string;
  author: string;
  template: ReplyTemplate;
  /** The text in English (the staff timeline); for our own wording also its message key and parameters. */
  body: string;
  key?: string;
  params?: Record<string, unknown>;
}

type Row = Selectable<TicketsTable>;

const replyEvent = (r: Selectable<TicketRepliesTable>): TicketEvent => ({
  at: r.at.toISOString(),
  actor: r.author,
  message: r.body,
  type: 'reply',
  id: String(r.id),
  template: r.template,
  ...(r.body_key && { key: r.body_key }),
  ...(r.body_params != null && { params: typeof r.body_params === 'string' ? r.body_params : JSON.stringify(r.body_params) }),
});

const ticketOf = (r: Row): Ticket => ({
  id: r.id,
  kind: r.kind,
  state: r.state,
  severity: r.severity,
  subject: r.subject,
  reason: r.reason,
  createdAt: r.created_at.toISOString(),
  slaDueAt: r.due_at.toISOString(),
  ...(r.resolution !== null && { resolution: r.resolution }),
  ...(r.request_id !== null && { requestId: r.request_id }),
  ...(r.case_key !== null && { caseKey: r.case_key }),
  ...(r.ip !== null && { ip: r.ip }),
  ...(r.tenant !== null && { tenant: r.tenant }),
  ...(r.email !== null && { email: r.email }),
  ...(r.category !== null && { category: r.category }),
});

const ID = /^[A-Za-z0-9_-]{1,80}$/;
const SEVERITY_RANK: Record<Severity, number> = { critical: 0, normal: 1 };

/**
 * A queue cursor: the sort key of the last row shown and its id, as text (`<ms>|<id>`, severity: `<rank>|<ms>|<id>`).
 * Timestamps are written with millisecond precision (they come from JS Dates), so the millisecond value is exact.
 */
export function cursorOf(t: Pick<Ticket, 'id' | 'createdAt' | 'slaDueAt' | 'severity'>, sort: Sort): string {
  if (sort === 'age') return `${Date.parse(t.createdAt)}|${t.id}`;
  if (sort === 'sla') return `${Date.parse(t.slaDueAt)}|${t.id}`;
  return `${SEVERITY_RANK[t.severity]}|${Date.parse(t.slaDueAt)}|${t.id}`;
}

function parseCursor(cursor: string, sort: Sort): { rank?: number; at: Date; id: string } | null {
  const parts = cursor.split('|');
  const [rank, ms, id] = sort === 'severity' ? parts : [undefined, ...parts];
  if (parts.length !== (sort === 'severity' ? 3 : 2) || !/^\d{1,15}$/.test(ms ?? '') || !ID.test(id ?? '')) return null;
  if (rank !== undefined && rank !== '0' && rank !== '1') return null;
  return { ...(rank !== undefined && { rank: Number(rank) }), at: new Date(Number(ms)), id: id! };
}

/**
 * Tickets for staff (table `tickets`), with their timeline (`ticket_events`), replies (`ticket_replies`) and the
 * reports attached to a case (`ticket_reports`). The triage queue reads one page after a cursor in one of three
 * orders; each (state, kind?, order) has its index (migrations/0001_initial.ts), so a page is an index range scan
 * whatever the table's size, and the tabs' counts come from `ticket_counts`, kept by triggers.
 */
export class TicketStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly sla: Policy['sla'],
  ) {}

  slaHours(kind: TicketKind, severity: Severity): number {
    return kind === 'abuse-case' && severity === 'critical' ? this.sla['abuse-case-critical'] : this.sla[kind];
  }

  /**
   * Opens a ticket with its first timeline event. Ids derive from their cause (and one request has one ticket, one
   * case key one open case), so a retried job makes no second one: it gets the ticket that exists.
   */
  async openIn(db: Kysely<Database>, fields: Omit<Ticket, 'state' | 'severity' | 'createdAt' | 'slaDueAt'> & { severity?: Severity }, now = new Date()): Promise<Ticket> {
    const opened = await this.insertNewIn(db, fields, now);
    if (opened) return opened;
    const existing = (await this.getIn(db, fields.id)) ?? (fields.requestId ? await this.byRequestIn(db, fields.requestId) : null);
    if (existing) return existing;
    throw new Error(`ticket ${fields.id} conflicts with another ticket`);
  }

  /**
   * Inserts a new open ticket, due by its kind's SLA, with its "opened" event; null when a ticket with its id (or the
   * open case of its case key) exists already.
   */
  private async insertNewIn(db: Kysely<Database>, fields: Omit<Ticket, 'state' | 'severity' | 'createdAt' | 'slaDueAt'> & { severity?: Severity }, now: Date): Promise<Ticket | null> {
    const severity = fields.severity ?? 'normal';
    const row = await db
      .insertInto('tickets')
      .values({
        id: fields.id,
        kind: fields.kind,
        severity,
        subject: fields.subject,
        reason: fields.reason,
        request_id: fields.requestId ?? null,
        case_key: fields.caseKey ?? null,
        ip: fields.ip ?? null,
        tenant: fields.tenant ?? null,
        email: fields.email ?? null,
        category: fields.category ?? null,
        created_at: now,
        updated_at: now,
        due_at: new Date(now.getTime() + this.slaHours(fields.kind, severity) * 3_600_000),
      })
      .onConflict((oc) => oc.doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) return null;
    await this.addEventIn(db, row.id, { at: now.toISOString(), actor: 'automation', message: `opened: ${row.reason}`, type: 'system' });
    return ticketOf(row);
  }

  /** Changes a ticket (state, severity, resolution, due time); closing sets closed_at, which frees a case key. */
  async updateIn(db: Kysely<Database>, before: Ticket, change: Partial<Pick<Ticket, 'state' | 'severity' | 'resolution' | 'slaDueAt'>>, now = new Date()): Promise<Ticket> {
    const row = await db
      .updateTable('tickets')
      .set({
        updated_at: now,
        ...(change.state && { state: change.state, closed_at: change.state === 'closed' ? now : null }),
        ...(change.severity && { severity: change.severity }),
        ...(change.resolution !== undefined && { resolution: change.resolution }),
        ...(change.slaDueAt && { due_at: change.slaDueAt }),
      })
      .where('id', '=', before.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return ticketOf(row);
  }

  /** Closes an open ticket (conditional: null when it was closed already); closing frees its case key. */
  async closeIn(db: Kysely<Database>, id: string, resolution: string, now = new Date()): Promise<Ticket | null> {
    const row = await db.updateTable('tickets').set({ state: 'closed', closed_at: now, resolution, updated_at: now }).where('id', '=', id).where('state', '=', 'open').returningAll().executeTakeFirst();
    return row ? ticketOf(row) : null;
  }

  /**
   * The open abuse case of a tenant (or source address), opened on first use. One open case per case key is a unique
   * index, so of two reports opening the same case at once one inserts and the other reads the winner's.
   */
  async caseFor(caseKey: string, firstRequestId: string, extra: Partial<Ticket> = {}, now = new Date()): Promise<Ticket> {
    const existing = await this.openCase(this.db, caseKey);
    if (existing) return ticketOf(existing);
    return this.db.transaction().execute((trx) => this.openCaseIn(trx, caseKey, firstRequestId, extra, now));
  }

  /**
   * In `trx`: takes the advisory lock `lockName` (held until the transaction ends) and reads the case's open ticket,
   * in one statement (null when it has none: openCaseIn opens it). The report intake orders a case's reports so.
   */
  async lockedCaseIn(trx: Kysely<Database>, caseKey: string, lockName: string): Promise<Ticket | null> {
    // One row whatever the case (a LEFT JOIN from one row), so the lock is taken exactly once.
    const { rows } = await sql<Row & { locked: unknown }>`
      SELECT pg_advisory_xact_lock(hashtext(${lockName})) AS locked, t.*
        FROM (SELECT 1) one LEFT JOIN tickets t ON t.case_key = ${caseKey} AND t.kind = 'abuse-case' AND t.state = 'open'`.execute(trx);
    const row = rows[0];
    return row?.id ? ticketOf(row) : null;
  }

  private openCase(db: Kysely<Database>, caseKey: string) {
    return db.selectFrom('tickets').selectAll().where('case_key', '=', caseKey).where('kind', '=', 'abuse-case').where('state', '=', 'open').executeTakeFirst();
  }

  /** Opens the abuse case of `caseKey` in `trx` (or reads the one another report opened meanwhile). */
  async openCaseIn(trx: Kysely<Database>, caseKey: string, firstRequestId: string, extra: Partial<Ticket> = {}, now = new Date()): Promise<Ticket> {
    const candidate = `case-${firstRequestId}`;
    const subject = extra.subject ?? `Abuse reports against ${caseKey}`;
    const reason = extra.reason ?? 'abuse reports received';
    const opened = await this.insertNewIn(trx, { id: candidate, kind: 'abuse-case', caseKey, subject, reason, ip: extra.ip, tenant: extra.tenant, email: extra.email, category: extra.category }, now);
    if (opened) return opened;
    // Another report opened the case meanwhile (or this job ran before and its case is closed since: keep using it).
    const winner = (await this.openCase(trx, caseKey)) ?? (await trx.selectFrom('tickets').selectAll().where('id', '=', candidate).executeTakeFirst());
    if (!winner) throw new Error(`case ${caseKey}: neither opened nor found`);
    return ticketOf(winner);
  }

  /** The open abuse case of a case key, if any (only one may be open: reopening another would break that). */
  async openCaseIdIn(db: Kysely<Database>, caseKey: string): Promise<string | null> {
    return (await this.openCase(db, caseKey))?.id ?? null;
  }

  /** Attaches a report to a case (attaching twice is attaching once); returns how many are attached. */
  async attachReport(ticketId: string, requestId: string, now = new Date()): Promise<number> {
    await this.attachReportIn(this.db, ticketId, requestId, now);
    const { n } = await this.db.selectFrom('ticket_reports').select((eb) => eb.fn.countAll<string>().as('n')).where('ticket_id', '=', ticketId).executeTakeFirstOrThrow();
    return Number(n);
  }

  /** Attaches a report to a case in the caller's transaction (attaching twice is attaching once). */
  async attachReportIn(db: Kysely<Database>, ticketId: string, requestId: string, now = new Date()): Promise<void> {
    await db.insertInto('ticket_reports').values({ ticket_id: ticketId, report_id: requestId, attached_at: now }).onConflict((oc) => oc.doNothing()).execute();
  }

  /** Moves every report of a case to another (merging a duplicate case). */
  async moveReportsIn(db: Kysely<Database>, fromTicketId: string, toTicketId: string): Promise<void> {
    await db
      .insertInto('ticket_reports')
      .columns(['ticket_id', 'report_id', 'attached_at'])
      .expression((eb) => eb.selectFrom('ticket_reports').select([sql.lit(toTicketId).as('ticket_id'), 'report_id', 'attached_at']).where('ticket_id', '=', fromTicketId))
      .onConflict((oc) => oc.doNothing())
      .execute();
    await db.deleteFrom('ticket_reports').where('ticket_id', '=', fromTicketId).execute();
  }

  /**
   * Raises a ticket to critical (once: a conditional update, so two escalations racing raise it once): its SLA
   * shortens and it moves up the severity sort. `also` runs in the same transaction (the audit entry).
   */
  async raiseToCritical(ticket: Ticket, event: TicketEvent, also?: (trx: Kysely<Database>) => Promise<void>): Promise<boolean> {
    if (ticket.severity === 'critical') return false;
    const due = new Date(Math.min(Date.parse(ticket.slaDueAt), Date.now() + this.slaHours(ticket.kind, 'critical') * 3_600_000));
    return this.db.transaction().execute(async (trx) => {
      const raised = await trx.updateTable('tickets').set({ severity: 'critical', due_at: due, updated_at: sql`now()` }).where('id', '=', ticket.id).where('severity', '<>', 'critical').returning('id').executeTakeFirst();
      if (!raised) return false;
      await this.addEventIn(trx, ticket.id, event);
      await also?.(trx);
      return true;
    });
  }

  /** A timeline event (system, action or note). A reply goes through addReplyIn. */
  async addEventIn(db: Kysely<Database>, ticketId: string, event: TicketEvent): Promise<void> {
    if (event.type === 'reply') throw new Error('a reply is written with addReplyIn');
    await db.insertInto('ticket_events').values({ ticket_id: ticketId, at: event.at, actor: event.actor, type: event.type ?? 'system', message: event.message }).execute();
    if (event.type === 'action') await this.respondedIn(db, ticketId, event.at);
  }

  /** The first staff action or reply on a ticket (kept once: the dashboard's time to first response). */
  private async respondedIn(db: Kysely<Database>, ticketId: string, at: string): Promise<void> {
    await db.updateTable('tickets').set({ first_response_at: at }).where('id', '=', ticketId).where('first_response_at', 'is', null).execute();
  }

  /** What staff mailed to the requesters; returns the reply's id (the mail job refers to it). */
  async addReplyIn(db: Kysely<Database>, ticketId: string, reply: NewReply): Promise<string> {
    const row = await db.insertInto('ticket_replies').values({ ticket_id: ticketId, at: reply.at, author: reply.author, template: reply.template, body: reply.body, body_key: reply.key ?? null, body_params: reply.params ? JSON.stringify(reply.params) : null }).returning('id').executeTakeFirstOrThrow();
    await this.respondedIn(db, ticketId, reply.at);
    return String(row.id);
  }

  /** One reply of a ticket, as a timeline event (the mail job renders it). */
  async reply(ticketId: string, replyId: string): Promise<TicketEvent | null> {
    if (!/^\d{1,15}$/.test(replyId)) return null;
    const r = await this.db.selectFrom('ticket_replies').selectAll().where('ticket_id', '=', ticketId).where('id', '=', Number(replyId)).executeTakeFirst();
    return r ? replyEvent(r) : null;
  }

  async get(id: string): Promise<Ticket | null> {
    return this.getIn(this.db, id);
  }

  private async getIn(db: Kysely<Database>, id: string): Promise<Ticket | null> {
    if (!ID.test(id)) return null;
    const row = await db.selectFrom('tickets').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? ticketOf(row) : null;
  }

  private async byRequestIn(db: Kysely<Database>, requestId: string): Promise<Ticket | null> {
    const row = await db.selectFrom('tickets').selectAll().where('request_id', '=', requestId).executeTakeFirst();
    return row ? ticketOf(row) : null;
  }

  /** Those of `ids` that exist, in the order given. */
  async getMany(ids: string[]): Promise<Ticket[]> {
    const valid = ids.filter((id) => ID.test(id));
    if (!valid.length) return [];
    const rows = await this.db.selectFrom('tickets').selectAll().where('id', 'in', valid).execute();
    const byId = new Map(rows.map((r) => [r.id, ticketOf(r)]));
    return valid.map((id) => byId.get(id)).filter((t): t is Ticket => !!t);
  }

  /** The timeline: events and replies together, by time. */
  async events(id: string): Promise<TicketEvent[]> {
    const [events, replies] = await Promise.all([
      this.db.selectFrom('ticket_events').selectAll().where('ticket_id', '=', id).orderBy('id').execute(),
      this.db.selectFrom('ticket_replies').selectAll().where('ticket_id', '=', id).orderBy('id').execute(),
    ]);
    const all = [
      ...events.map((e) => ({ at: e.at, seq: e.id, event: { at: e.at.toISOString(), actor: e.actor, message: e.message, type: e.type } as TicketEvent })),
      ...replies.map((r) => ({ at: r.at, seq: r.id, event: replyEvent(r) as TicketEvent })),
    ];
    return all.sort((a, b) => a.at.getTime() - b.at.getTime() || a.seq - b.seq).map((x) => x.event);
  }

  /** The reports attached to a case, oldest first. */
  async reports(id: string): Promise<string[]> {
    const rows = await this.db.selectFrom('ticket_reports').select('report_id').where('ticket_id', '=', id).orderBy('attached_at').orderBy('report_id').execute();
    return rows.map((r) => r.report_id);
  }

  /** Tickets per kind in a state (the queue's tabs), from ticket_counts (kept by triggers; never counted here). */
  async counts(state: TicketState = 'open'): Promise<Record<TicketKind | 'all', number>> {
    const rows = await this.db.selectFrom('ticket_counts').select(['kind', 'n']).where('state', '=', state).execute();
    const counts = { all: 0, ...Object.fromEntries(TICKET_KINDS.map((k) => [k, 0])) } as Record<TicketKind | 'all', number>;
    for (const r of rows) {
      counts[r.kind] = Number(r.n);
      counts.all += Number(r.n);
    }
    return counts;
  }

  /**
   * One page of the queue: state, kind, exact filters, then the order and the cursor as a row comparison, so the
   * unfiltered page is a range scan of its index from the cursor on (`(state, kind, due_at, id)` and friends) and a
   * filtered one reads the few rows its filter index finds. A filter that cannot match (an ip that is no address)
   * gives an empty page.
   */
  async query(q: QueueQuery): Promise<QueuePage> {
    const s = this.pageQuery(q);
    if (!s) return { tickets: [], next: null };
    const rows = await s.execute();
    const page = rows.slice(0, q.limit).map(ticketOf);
    return { tickets: page, next: rows.length > q.limit ? cursorOf(page[page.length - 1]!, q.sort) : null };
  }

  /** The plan PostgreSQL chooses for a page of the queue (EXPLAIN, JSON): how the indexes serve it (tests, operators). */
  async plan(q: QueueQuery): Promise<unknown> {
    const s = this.pageQuery(q);
    return s ? (await s.explain('json'))[0]?.['QUERY PLAN'] : null;
  }

  /** The SELECT of one page (limit + 1 rows, to know whether there is a next page); null when a filter cannot match. */
  private pageQuery(q: QueueQuery) {
    let s = this.db.selectFrom('tickets').selectAll().where('state', '=', q.state);
    if (q.kind) s = s.where('kind', '=', q.kind);
    const f = q.filters;
    if (f.ip) {
      let net: string;
      try {
        net = parseNetwork(f.ip).text;
      } catch {
        return null;
      }
      s = s.where(sql<SqlBool>`ip <<= ${net}::cidr`);
    }
    // `-` asks for the cases whose customer was not found (their case key is the source address).
    if (f.tenant === '-') s = s.where('tenant', 'is', null);
    else if (f.tenant) s = s.where('tenant', '=', f.tenant);
    if (f.email) s = s.where(sql<SqlBool>`lower(email) = ${f.email.toLowerCase()}`);
    if (f.category) s = s.where('category', '=', f.category);
    const c = q.after ? parseCursor(q.after, q.sort) : null;
    if (c) {
      s = s.where((eb) => {
        const cols: Array<'severity_rank' | 'due_at' | 'created_at' | 'id'> = q.sort === 'age' ? ['created_at', 'id'] : q.sort === 'sla' ? ['due_at', 'id'] : ['severity_rank', 'due_at', 'id'];
        const vals: Array<Expression<unknown> | unknown> = q.sort === 'severity' ? [c.rank, c.at, c.id] : [c.at, c.id];
        return eb(sql`(${sql.join(cols.map((col) => sql.ref(col)))})`, '>', sql`(${sql.join(vals)})`);
      });
    }
    if (q.sort === 'severity') s = s.orderBy('severity_rank');
    s = s.orderBy(q.sort === 'age' ? 'created_at' : 'due_at').orderBy('id');
    return s.limit(q.limit + 1);
  }
}
