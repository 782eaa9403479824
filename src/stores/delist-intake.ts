import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { intentFields, type JobIntent } from '../jobs/outbox.js';
import type { ChallengeStore } from './challenges.js';
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
 * ARGV: n, (max, windowMs) × n, create (0|1), cool-down seconds, the request's fields and values (a JSON array),
 * event JSON, createdAtMs, requestId, expiresAtMs, challenge TTL seconds, the outbox entry's fields (a JSON array).
 * The two lists travel as JSON: the client's cost grows with the number of arguments, the script's hardly.
 */
const INTAKE = `
local n = tonumber(ARGV[1])
for i = 1, n do
  local max = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local hits = redis.call('INCR', KEYS[i])
  local ttl = redis.call('PTTL', KEYS[i])
  if hits == 1 or ttl < 0 then
    redis.call('PEXPIRE', KEYS[i], window)
    ttl = window
  end
  if hits > max then return {'limited', i - 1, ttl} end
end
local a = 2 * n + 2
if ARGV[a] ~= '1' then return {'counted', 0, 0} end
local cooldown = tonumber(ARGV[a + 1])
if cooldown > 0 and not redis.call('SET', KEYS[n + 1], '1', 'EX', cooldown, 'NX') then return {'cooldown', 0, 0} end
redis.call('HSET', KEYS[n + 2], unpack(cjson.decode(ARGV[a + 2])))
local b = a + 3
redis.call('RPUSH', KEYS[n + 3], ARGV[b])
redis.call('ZADD', KEYS[n + 4], ARGV[b + 1], ARGV[b + 2])
redis.call('HSET', KEYS[n + 5], 'requestId', ARGV[b + 2], 'expiresAtMs', ARGV[b + 3])
redis.call('EXPIRE', KEYS[n + 5], ARGV[b + 4])
redis.call('XADD', KEYS[n + 6], '*', unpack(cjson.decode(ARGV[b + 5])))
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
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly challenges: ChallengeStore,
  ) {
    if (!('pmDelistIntake' in redis)) redis.defineCommand('pmDelistIntake', { lua: INTAKE });
  }

  private run(keys: string[], args: Array<string | number>): Promise<IntakeReply> {
    return (this.redis as unknown as { pmDelistIntake(numKeys: number, ...a: Array<string | number>): Promise<IntakeReply> }).pmDelistIntake(keys.length, ...keys, ...args);
  }

  /** Counts hits only (a form that did not validate still counts against its sender's address). */
  async count(hits: Hit[]): Promise<IntakeOutcome> {
    const [status, limit, resetMs] = await this.run(
      hits.map((h) => h.key),
      [hits.length, ...hits.flatMap((h) => [h.max, h.windowMs]), '0'],
    );
    return status === 'limited' ? { status, limit: Number(limit), resetMs: Number(resetMs) } : { status: 'created' };
  }

  /** Counts hits, then creates the request and its challenge unless a cool-down for this email and IP is running. */
  async submit(hits: Hit[], request: PortalRequest, event: RequestEvent, challenge: { ttlMinutes: number; cooldownSeconds: number; tombstoneSeconds: number }, mail: JobIntent): Promise<IntakeOutcome> {
    const createdAtMs = Date.parse(request.createdAt);
    const expiresAtMs = createdAtMs + challenge.ttlMinutes * 60_000;
    const fields: string[] = [];
    for (const [k, v] of Object.entries(request)) if (v !== undefined) fields.push(k, String(v));
    const [status, limit, resetMs] = await this.run(
      [
        ...hits.map((h) => h.key),
        this.keys.challengeCooldown(request.email, request.ip),
        this.keys.request(request.id),
        this.keys.requestEvents(request.id),
        this.keys.requestsByTime,
        this.challenges.keyFor(request.challengeId),
        this.keys.jobOutbox,
      ],
      [
        hits.length,
        ...hits.flatMap((h) => [h.max, h.windowMs]),
        '1',
        challenge.cooldownSeconds,
        JSON.stringify(fields),
        JSON.stringify(event),
        createdAtMs,
        request.id,
        expiresAtMs,
        challenge.ttlMinutes * 60 + challenge.tombstoneSeconds,
        JSON.stringify(intentFields(mail)),
      ],
    );
    if (status === 'limited') return { status, limit: Number(limit), resetMs: Number(resetMs) };
    return status === 'cooldown' ? { status } : { status: 'created' };
  }
}
