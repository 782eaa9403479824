import type { ChainableCommander, Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface Ticket {
  id: string;
  kind: 'delist-review';
  state: 'open' | 'closed';
  requestId: string;
  subject: string;
  reason: string;
  createdAt: string;
}

/** Tickets for staff: what automation could not decide. Indexed by creation time for the triage queue. */
export class TicketStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Queues a new open ticket on a transaction and returns it. Its id derives from the request, so a retry makes no second one. */
  openIn(tx: ChainableCommander, fields: Omit<Ticket, 'id' | 'state' | 'createdAt'>, now = new Date()): Ticket {
    const ticket: Ticket = { id: `t-${fields.requestId}`, state: 'open', createdAt: now.toISOString(), ...fields };
    tx.hset(this.keys.ticket(ticket.id), ticket as unknown as Record<string, string>);
    tx.zadd(this.keys.ticketsOpen, now.getTime(), ticket.id);
    return ticket;
  }

  async get(id: string): Promise<Ticket | null> {
    const h = await this.redis.hgetall(this.keys.ticket(id));
    return h.id ? (h as unknown as Ticket) : null;
  }

  async openCount(): Promise<number> {
    return this.redis.zcard(this.keys.ticketsOpen);
  }
}

