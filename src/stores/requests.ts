import { randomId } from '../domain/random.js';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export type RequestType = 'delist' | 'report' | 'unblock';
export type RequestState = 'awaiting_confirmation' | 'queued' | 'delisted' | 'not_listed' | 'needs_review' | 'refused' | 'received' | 'duplicate' | 'approved' | 'closed';
/** States the automation never leaves (staff may still move a needs_review request on). */
export const FINAL_STATES: readonly RequestState[] = ['delisted', 'not_listed', 'needs_review', 'refused', 'received', 'duplicate', 'approved', 'closed'];

export interface RequestEvent {
  at: string;
  state: RequestState;
  message: string;
}

export interface PortalRequest {
  id: string;
  type: RequestType;
  state: RequestState;
  /** The verified email of a person; empty for machine reports (see `reporter`). */
  email: string;
  /** Delist: the IP to remove. Report: the source IP where the message left us. */
  ip: string;
  createdAt: string;
  updatedAt: string;
  /** Random id from which the emailed confirmation token is derived (never the token itself). */
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

/** Request ids are random and unguessable: a status URL is a capability, not a counter. */
export const newId = (bytes = 12) => randomId(bytes);
export const isRequestId = (s: string) => /^[A-Za-z0-9_-]{16}$/.test(s);

/** Requests made through the portal (delist now; reports and unblocks later) and their timelines. */
export class RequestStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Queues the creation of a request and its first event on a transaction. */
  createIn(tx: ChainableCommander, request: PortalRequest, message: string): void {
    tx.hset(this.keys.request(request.id), flatten(request));
    tx.rpush(this.keys.requestEvents(request.id), JSON.stringify({ at: request.createdAt, state: request.state, message } satisfies RequestEvent));
    tx.zadd(this.keys.requestsByTime, Date.parse(request.createdAt), request.id);
  }

  /** Queues a state change and its timeline event on a transaction. */
  transitionIn(tx: ChainableCommander, id: string, state: RequestState, message: string, extra: Partial<PortalRequest> = {}, at = new Date()): void {
    tx.hset(this.keys.request(id), flatten({ ...extra, state, updatedAt: at.toISOString() }));
    tx.rpush(this.keys.requestEvents(id), JSON.stringify({ at: at.toISOString(), state, message } satisfies RequestEvent));
  }

  /** Queues the sample of a report (kept as evidence) on a transaction. */
  storeSampleIn(tx: ChainableCommander, id: string, raw: Buffer, ttlSeconds: number): void {
    tx.set(this.keys.requestSample(id), raw, 'EX', ttlSeconds);
  }

  async sample(id: string): Promise<Buffer | null> {
    return this.redis.getBuffer(this.keys.requestSample(id));
  }

  async get(id: string): Promise<PortalRequest | null> {
    if (!isRequestId(id)) return null;
    const h = await this.redis.hgetall(this.keys.request(id));
    if (!h.id) return null;
    return h as unknown as PortalRequest;
  }

  /** One field of many requests (null where missing), in the order asked. */
  async fieldOfMany(ids: string[], field: keyof PortalRequest): Promise<Array<string | null>> {
    if (!ids.length) return [];
    const tx = this.redis.pipeline();
    for (const id of ids) tx.hget(this.keys.request(id), field);
    return ((await tx.exec()) ?? []).map(([, v]) => (typeof v === 'string' ? v : null));
  }

  async events(id: string): Promise<RequestEvent[]> {
    return (await this.redis.lrange(this.keys.requestEvents(id), 0, -1)).map((v) => JSON.parse(v) as RequestEvent);
  }
}

function flatten(obj: Partial<PortalRequest>): Record<string, string> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]));
}
