import type { ChainableCommander, Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export type TicketKind = 'delist-review' | 'abuse-case';
export type Severity = 'normal' | 'critical';

export interface Ticket {
  id: string;
  kind: TicketKind;
  state: 'open' | 'closed';
  severity: Severity;
  subject: string;
  reason: string;
  createdAt: string;
  /** delist-review: the request it came from. */
  requestId?: string;
  /** abuse-case: the tenant (or `ip-<source>` when the mail carried no tenant). */
  caseKey?: string;
}

export interface TicketEvent {
  at: string;
  actor: string;
  message: string;
}

/** Marks a ticket critical once; returns 1 when it changed. */
const RAISE = `
if redis.call('HGET', KEYS[1], 'severity') == 'critical' then return 0 end
redis.call('HSET', KEYS[1], 'severity', 'critical')
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 1
`;

/** Tickets for staff: what automation could not decide, and one open abuse case per tenant. */
export class TicketStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Queues a new open ticket on a transaction. Ids derive from their cause, so a retried job makes no second one. */
  openIn(tx: ChainableCommander, ticket: Omit<Ticket, 'state' | 'severity' | 'createdAt'> & { severity?: Severity }, now = new Date()): Ticket {
    const full: Ticket = { state: 'open', severity: 'normal', createdAt: now.toISOString(), ...ticket };
    tx.hset(this.keys.ticket(full.id), Object.fromEntries(Object.entries(full).filter(([, v]) => v !== undefined)) as Record<string, string>);
    tx.zadd(this.keys.ticketsOpen, now.getTime(), full.id);
    tx.rpush(this.keys.ticketEvents(full.id), JSON.stringify({ at: full.createdAt, actor: 'automation', message: `opened: ${full.reason}` } satisfies TicketEvent));
    return full;
  }

  /** The open abuse case of a tenant, opened on first use (one per tenant; SET NX decides races). */
  async caseFor(caseKey: string, firstRequestId: string, now = new Date()): Promise<Ticket> {
    const candidate = `case-${firstRequestId}`;
    const won = await this.redis.set(this.keys.tenantCase(caseKey), candidate, 'NX');
    const id = won ? candidate : ((await this.redis.get(this.keys.tenantCase(caseKey))) ?? candidate);
    const existing = await this.get(id);
    if (existing) return existing;
    const tx = this.redis.multi();
    const ticket = this.openIn(tx, { id, kind: 'abuse-case', caseKey, subject: `Abuse reports against ${caseKey}`, reason: 'abuse reports received' }, now);
    await tx.exec();
    return ticket;
  }

  /** Attaches a report to a case (a set: attaching twice is attaching once); returns how many are attached. */
  async attachReport(ticketId: string, requestId: string, now = new Date()): Promise<number> {
    const [, [, count]] = (await this.redis.multi().zadd(this.keys.ticketReports(ticketId), 'NX', String(now.getTime()), requestId).zcard(this.keys.ticketReports(ticketId)).exec()) as [unknown, [unknown, number]];
    return count;
  }

  /** Queues a critical-severity raise (idempotent) on a transaction. */
  raiseToCriticalIn(tx: ChainableCommander, ticketId: string, now = new Date()): void {
    tx.eval(RAISE, 2, this.keys.ticket(ticketId), this.keys.ticketsOpen, now.getTime(), ticketId);
  }

  addEventIn(tx: ChainableCommander, ticketId: string, event: TicketEvent): void {
    tx.rpush(this.keys.ticketEvents(ticketId), JSON.stringify(event));
  }

  async get(id: string): Promise<Ticket | null> {
    const h = await this.redis.hgetall(this.keys.ticket(id));
    return h.id ? (h as unknown as Ticket) : null;
  }

  async events(id: string): Promise<TicketEvent[]> {
    return (await this.redis.lrange(this.keys.ticketEvents(id), 0, -1)).map((v) => JSON.parse(v) as TicketEvent);
  }

  async reports(id: string): Promise<string[]> {
    return this.redis.zrange(this.keys.ticketReports(id), '0', '-1');
  }

  async openCount(): Promise<number> {
    return this.redis.zcard(this.keys.ticketsOpen);
  }
}
