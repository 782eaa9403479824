import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { intentFields, type JobIntent } from '../jobs/outbox.js';
import { TOMBSTONE_SECONDS, type ChallengeStore } from './challenges.js';
import type { PortalRequest, RequestEvent } from './requests.js';

/** One public rate limit: the counter's key and its window (fixed windows, as express-rate-limit counts them). */
export interface Hit {
  key: string;
  max: number;
  windowMs: number;
}

export type IntakeOutcome =
  | { status: 'created' }
  | { status: 'cooldown' }
  /** `limit` is the index of the hit whose window is full; `resetMs` is how long until it resets. */
  | { status: 'limited'; limit: number; resetMs: number };

/**
 * Counts the hits in order and stops at the first full window (later counters are not touched, as with a chain
 * of express-rate-limit middlewares). Then, if there is a request to create: the resend cool-down (SET NX EX),
 * and the request, its first event, its index entry, its challenge and the job outbox entry of its challenge
 * mail, all at once.
 *
 * KEYS: hit keys (n), then cool-down, request, events, by-time, challenge, job outbox.
 * ARGV[1]: one JSON object: `limits` (max, windowMs) × n; and to create a request, `cooldown` (seconds),
 * `request` (its fields and values), `event` (JSON), `createdAtMs`, `requestId`, `expiresAtMs`, `challengeTtl`
 * (seconds) and `outbox` (the outbox entry's fields). Times travel as strings (Lua prints big numbers in %.14g).
 * One argument: the client's cost grows with the number of arguments, the script's hardly.
 */
const INTAKE = `
local a = cjson.decode(ARGV[1])
local limits = a.limits
local n = #limits / 2
for i = 1, n do
  local max = limits[2 * i - 1]
  local window = limits[2 * i]
  local hits = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if hits == 1 or ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], window)
    ttl = window
  end
  if hits > max then return {'limited', i - 1, ttl} end
end
if a.request == nil then return {'counted', 0, 0} end
if a.cooldown > 0 and not redis.call('SET', KEYS[n + 1], '1', 'EX', a.cooldown, 'NX') then return {'cooldown', 0, 0} end
redis.call('HSET', KEYS[n + 2], unpack(a.request))
redis.call('RPUSH', KEYS[n + 3], a.event)
redis.call('ZADD', KEYS[n + 4], a.createdAtMs, a.requestId)
redis.call('HSET', KEYS[n + 5], 'requestId', a.requestId, 'expiresAtMs', a.expiresAtMs)
redis.call('EXPIRE', KEYS[n + 5], a.challengeTtl)
redis.call('XADD', KEYS[n + 6], '*', unpack(a.outbox))
return {'created', 0, 0}
`;

type IntakeReply = [string, number, number];

/**
 * The public delist submission in one Redis round trip: its three rate limits, the resend cool-down, the
 * request with its challenge, and its challenge mail's job (through the job outbox). It replaces three
 * rate-limit scripts, a SET, a MULTI and a BullMQ add: on the busiest public form that more than halved the
 * web role's CPU per request (see README, load bench).
 */
export class DelistIntake {
  private readonly ttlMs: number;
  private readonly cooldownSeconds: number;
  private readonly challengeTtlSeconds: number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly challenges: ChallengeStore,
    challenge: { ttlMinutes: number; resendCooldownSeconds: number },
  ) {
    if (!('pmDelistIntake' in redis)) redis.defineCommand('pmDelistIntake', { lua: INTAKE });
    this.ttlMs = challenge.ttlMinutes * 60_000;
    this.cooldownSeconds = challenge.resendCooldownSeconds;
    this.challengeTtlSeconds = challenge.ttlMinutes * 60 + TOMBSTONE_SECONDS;
  }

  private run(keys: string[], arg: string): Promise<IntakeReply> {
    return (this.redis as unknown as { pmDelistIntake(numKeys: number, ...a: string[]): Promise<IntakeReply> }).pmDelistIntake(keys.length, ...keys, arg);
  }

  /** Counts hits only (a form that did not validate still counts against its sender's address). */
  async count(hits: Hit[]): Promise<IntakeOutcome> {
    const keys: string[] = [];
    const limits: number[] = [];
    for (const h of hits) keys.push(h.key), limits.push(h.max, h.windowMs);
    const [status, limit, resetMs] = await this.run(keys, JSON.stringify({ limits }));
    return status === 'limited' ? { status, limit: Number(limit), resetMs: Number(resetMs) } : { status: 'created' };
  }

  /**
   * Counts hits, then creates the request (made at `nowMs`) and its challenge unless a cool-down for this email and
   * IP is running.
   */
  async submit(hits: Hit[], request: PortalRequest, event: RequestEvent, nowMs: number, mail: JobIntent): Promise<IntakeOutcome> {
    const keys: string[] = [];
    const limits: number[] = [];
    for (const h of hits) keys.push(h.key), limits.push(h.max, h.windowMs);
    keys.push(
      this.keys.challengeCooldown(request.email, request.ip),
      this.keys.request(request.id),
      this.keys.requestEvents(request.id),
      this.keys.requestsByTime,
      this.challenges.keyFor(request.challengeId),
      this.keys.jobOutbox,
    );
    const fields: string[] = [];
    for (const k in request) {
      const v = request[k as keyof PortalRequest];
      if (v !== undefined) fields.push(k, String(v));
    }
    const arg = JSON.stringify({
      limits,
      cooldown: this.cooldownSeconds,
      request: fields,
      event: JSON.stringify(event),
      createdAtMs: String(nowMs),
      requestId: request.id,
      expiresAtMs: String(nowMs + this.ttlMs),
      challengeTtl: this.challengeTtlSeconds,
      outbox: intentFields(mail),
    });
    const [status, limit, resetMs] = await this.run(keys, arg);
    if (status === 'limited') return { status, limit: Number(limit), resetMs: Number(resetMs) };
    return status === 'cooldown' ? { status } : { status: 'created' };
  }
}
