import type { ChainableCommander, Redis } from 'ioredis';
import type { Policy } from '../policy.js';
import type { Keys } from '../redis/keys.js';

export const TICKET_KINDS = ['delist-review', 'abuse-case', 'tenant-unblock'] as const;
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
  /** 'note' (internal), 'reply' (mailed to the requester), 'action', 'system'. */
  type?: 'note' | 'reply' | 'action' | 'system';
  /** Replies: an id the mail job refers to, and the kind of update (each has its own mail template wording). */
  id?: string;
  template?: ReplyTemplate;
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
  next: string | null;
}

const pad = (n: number) => String(Math.max(0, Math.floor(n))).padStart(15, '0');
const SEVERITY_RANK: Record<Severity, number> = { critical: 0, normal: 1 };

/** The lexicographic member of a ticket in one sorted index: the sort key, then the id (ties stay in a stable order). */
export function indexMember(t: Pick<Ticket, 'id' | 'createdAt' | 'slaDueAt' | 'severity'>, sort: Sort): string {
  const created = Date.parse(t.createdAt);
  const due = Date.parse(t.slaDueAt);
  const key = sort === 'age' ? pad(created) : sort === 'sla' ? pad(due) : `${SEVERITY_RANK[t.severity]}${pad(due)}`;
  return `${key}|${t.id}`;
}

/**
 * Tickets for staff, with the indexes the triage queue reads: per state × kind × sort, a sorted set of
 * lexicographic members (cursor paging with ZRANGE BYLEX), and a set per exact filter value. No SCAN, no KEYS.
 */
export class TicketStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly sla: Policy['sla'],
  ) {}

  slaHours(kind: TicketKind, severity: Severity): number {
    return kind === 'abuse-case' && severity === 'critical' ? this.sla['abuse-case-critical'] : this.sla[kind];
  }

  private indexIn(tx: ChainableCommander, t: Ticket, add: boolean): void {
    for (const kind of ['all', t.kind]) {
      for (const sort of SORTS) {
        const key = this.keys.ticketIndex(t.state, kind, sort);
        if (add) tx.zadd(key, 0, indexMember(t, sort));
        else tx.zrem(key, indexMember(t, sort));
      }
    }
    for (const field of FILTER_FIELDS) {
      const value = t[field];
      if (value) {
        if (add) tx.sadd(this.keys.ticketFilter(field, value.toLowerCase()), t.id);
        else tx.srem(this.keys.ticketFilter(field, value.toLowerCase()), t.id);
      }
    }
  }

  /** Queues a new open ticket on a transaction. Ids derive from their cause, so a retried job makes no second one. */
  openIn(tx: ChainableCommander, fields: Omit<Ticket, 'state' | 'severity' | 'createdAt' | 'slaDueAt'> & { severity?: Severity }, now = new Date()): Ticket {
    const severity = fields.severity ?? 'normal';
    const ticket: Ticket = { ...fields, state: 'open', severity, createdAt: now.toISOString(), slaDueAt: new Date(now.getTime() + this.slaHours(fields.kind, severity) * 3_600_000).toISOString() };
    tx.hset(this.keys.ticket(ticket.id), compact(ticket));
    this.indexIn(tx, ticket, true);
    tx.rpush(this.keys.ticketEvents(ticket.id), JSON.stringify({ at: ticket.createdAt, actor: 'automation', message: `opened: ${ticket.reason}`, type: 'system' } satisfies TicketEvent));
    return ticket;
  }

  /** Queues a change of a ticket (state, severity, resolution) with its indexes moved accordingly. */
  updateIn(tx: ChainableCommander, before: Ticket, change: Partial<Pick<Ticket, 'state' | 'severity' | 'resolution' | 'slaDueAt'>>): Ticket {
    const after: Ticket = { ...before, ...change };
    this.indexIn(tx, before, false);
    tx.hset(this.keys.ticket(after.id), compact(after));
    this.indexIn(tx, after, true);
    return after;
  }

  /** The open abuse case of a tenant, opened on first use (one per tenant; SET NX decides races). */
  async caseFor(caseKey: string, firstRequestId: string, extra: Partial<Ticket> = {}, now = new Date()): Promise<Ticket> {
    const candidate = `case-${firstRequestId}`;
    const won = await this.redis.set(this.keys.tenantCase(caseKey), candidate, 'NX');
    const id = won ? candidate : ((await this.redis.get(this.keys.tenantCase(caseKey))) ?? candidate);
    const existing = await this.get(id);
    if (existing) return existing;
    const tx = this.redis.multi();
    const ticket = this.openIn(tx, { id, kind: 'abuse-case', caseKey, subject: `Abuse reports against ${caseKey}`, reason: 'abuse reports received', ...extra }, now);
    await tx.exec();
    return ticket;
  }

  /** Closes a tenant's open case for good, so its next report opens a new one. */
  releaseCaseIn(tx: ChainableCommander, caseKey: string): void {
    tx.del(this.keys.tenantCase(caseKey));
  }

  /** Attaches a report to a case (a set: attaching twice is attaching once); returns how many are attached. */
  async attachReport(ticketId: string, requestId: string, now = new Date()): Promise<number> {
    const results = (await this.redis.multi().zadd(this.keys.ticketReports(ticketId), 'NX', String(now.getTime()), requestId).zcard(this.keys.ticketReports(ticketId)).exec()) as Array<[unknown, number]>;
    return results[1]![1];
  }

  /** Raises a ticket to critical (once): its SLA shortens and it moves up the severity sort. */
  async raiseToCritical(ticket: Ticket, event: TicketEvent, also?: (tx: ChainableCommander) => void): Promise<boolean> {
    if (ticket.severity === 'critical') return false;
    const tx = this.redis.multi();
    const due = new Date(Math.min(Date.parse(ticket.slaDueAt), Date.now() + this.slaHours(ticket.kind, 'critical') * 3_600_000)).toISOString();
    this.updateIn(tx, ticket, { severity: 'critical', slaDueAt: due });
    this.addEventIn(tx, ticket.id, event);
    also?.(tx);
    await tx.exec();
    return true;
  }

  addEventIn(tx: ChainableCommander, ticketId: string, event: TicketEvent): void {
    tx.rpush(this.keys.ticketEvents(ticketId), JSON.stringify(event));
  }

  async get(id: string): Promise<Ticket | null> {
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(id)) return null;
    const h = await this.redis.hgetall(this.keys.ticket(id));
    return h.id ? (h as unknown as Ticket) : null;
  }

  async getMany(ids: string[]): Promise<Ticket[]> {
    if (!ids.length) return [];
    const tx = this.redis.pipeline();
    for (const id of ids) tx.hgetall(this.keys.ticket(id));
    const rows = (await tx.exec()) ?? [];
    return rows.map(([, h]) => h as unknown as Ticket).filter((t) => t && t.id);
  }

  async events(id: string): Promise<TicketEvent[]> {
    return (await this.redis.lrange(this.keys.ticketEvents(id), 0, -1)).map((v) => JSON.parse(v) as TicketEvent);
  }

  async reports(id: string): Promise<string[]> {
    return this.redis.zrange(this.keys.ticketReports(id), '0', '-1');
  }

  /** Open tickets per kind (the queue's tabs): one ZCARD each. */
  async counts(state: TicketState = 'open'): Promise<Record<TicketKind | 'all', number>> {
    const kinds = ['all', ...TICKET_KINDS] as const;
    const tx = this.redis.pipeline();
    for (const k of kinds) tx.zcard(this.keys.ticketIndex(state, k, 'age'));
    const rows = (await tx.exec()) ?? [];
    return Object.fromEntries(kinds.map((k, i) => [k, Number(rows[i]?.[1] ?? 0)])) as Record<TicketKind | 'all', number>;
  }

  /**
   * One page of the queue. Without exact filters: ZRANGE BYLEX from the cursor on the right index (O(log n + page)).
   * With them: the intersection of the filter sets (small by nature), then state/kind/sort in memory.
   */
  async query(q: QueueQuery): Promise<QueuePage> {
    const filters = Object.entries(q.filters).filter(([, v]) => v) as Array<[FilterField, string]>;
    if (!filters.length) {
      const key = this.keys.ticketIndex(q.state, q.kind ?? 'all', q.sort);
      const members = await this.redis.zrangebylex(key, q.after ? `(${q.after}` : '-', '+', 'LIMIT', 0, q.limit + 1);
      const page = members.slice(0, q.limit);
      const tickets = await this.getMany(page.map((m) => m.slice(m.indexOf('|') + 1)));
      return { tickets, next: members.length > q.limit ? page[page.length - 1]! : null };
    }
    const ids = (await this.redis.sinter(...filters.map(([f, v]) => this.keys.ticketFilter(f, v.toLowerCase())))).slice(0, 10_000);
    const all = (await this.getMany(ids)).filter((t) => t.state === q.state && (!q.kind || t.kind === q.kind));
    const sorted = all.map((t) => ({ t, m: indexMember(t, q.sort) })).sort((a, b) => (a.m < b.m ? -1 : 1)).filter((x) => !q.after || x.m > q.after);
    const page = sorted.slice(0, q.limit);
    return { tickets: page.map((x) => x.t), next: sorted.length > q.limit ? page[page.length - 1]!.m : null };
  }
}

function compact(t: Ticket): Record<string, string> {
  return Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [k, String(v)]));
}
