import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export type ChallengeCheck =
  | { status: 'valid'; requestId: string; expiresAt: string }
  | { status: 'used'; requestId: string }
  | { status: 'expired'; requestId: string }
  | { status: 'unknown' };

/** How long a used or expired challenge is remembered, so its link gets a clear page rather than "unknown". */
export const TOMBSTONE_SECONDS = 7 * 24 * 3600;

/**
 * Marks the challenge used only if it is still valid, and in the same step moves its request on and writes its
 * job, so a confirmed request always has its job; returns [status, requestId]. KEYS: the challenge, the request,
 * its events, the job outbox. ARGV: nowMs, nowIso, the request id the caller read (anything else is 'unknown'),
 * new state, event JSON, outbox fields.
 */
const CONSUME = `
local id = redis.call('HGET', KEYS[1], 'requestId')
if not id or id ~= ARGV[3] then return {'unknown', ''} end
if redis.call('HEXISTS', KEYS[1], 'usedAt') == 1 then return {'used', id} end
if tonumber(redis.call('HGET', KEYS[1], 'expiresAtMs')) <= tonumber(ARGV[1]) then return {'expired', id} end
redis.call('HSET', KEYS[1], 'usedAt', ARGV[2])
redis.call('HSET', KEYS[2], 'state', ARGV[4], 'updatedAt', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[5])
redis.call('XADD', KEYS[4], '*', unpack(ARGV, 6))
return {'valid', id}
`;

function checkOf([status, requestId]: [string, string]): ChallengeCheck {
  if (status === 'valid') return { status, requestId, expiresAt: '' };
  if (status === 'used' || status === 'expired') return { status, requestId };
  return { status: 'unknown' };
}

function checkOfHash(h: Record<string, string>, now: Date): ChallengeCheck {
  if (!h.requestId) return { status: 'unknown' };
  if (h.usedAt) return { status: 'used', requestId: h.requestId };
  if (Number(h.expiresAtMs) <= now.getTime()) return { status: 'expired', requestId: h.requestId };
  return { status: 'valid', requestId: h.requestId, expiresAt: new Date(Number(h.expiresAtMs)).toISOString() };
}

export const isTokenShaped = (token: string) => /^[A-Za-z0-9_-]{43}$/.test(token);

/**
 * Email challenges. The 256-bit token is HMAC(secret, challengeId): the mail job carries only the request id and
 * the worker derives the token; Redis keeps only the token's SHA-256.
 */
export class ChallengeStore {
  private readonly key: KeyObject;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    secret: string,
  ) {
    this.key = createSecretKey(Buffer.from(secret));
  }

  tokenFor(challengeId: string): string {
    return createHmac('sha256', this.key).update(`challenge:${challengeId}`).digest('base64url');
  }

  private keyOf(token: string): string {
    return this.keys.challenge(hash('sha256', token, 'hex')); // one-shot: no Hash object per call
  }

  /** The key of the challenge behind `challengeId`. */
  keyFor(challengeId: string): string {
    return this.keyOf(this.tokenFor(challengeId));
  }

  /** Queues the challenge's creation on a transaction. */
  createIn(tx: ChainableCommander, challengeId: string, requestId: string, ttlMinutes: number, now = new Date()): void {
    const key = this.keyFor(challengeId);
    const expiresAtMs = now.getTime() + ttlMinutes * 60_000;
    tx.hset(key, { requestId, expiresAtMs: String(expiresAtMs) });
    tx.expire(key, ttlMinutes * 60 + TOMBSTONE_SECONDS);
  }

  /**
   * Makes the request's challenge unless it exists (used or not): the delist form's challenge is made by the
   * worker that mails its link, right before the mail goes out (worker/processors/send-mail.ts), not with the
   * request (stores/delist-intake.ts). Safe to run again: an existing challenge keeps its fields and expiry. It is
   * valid for `ttlMinutes` from the request's creation and remembered TOMBSTONE_SECONDS longer, as one made by
   * `createIn` with the request. A failed step throws, so the job is retried. Gives the link's token.
   */
  async ensure(request: { id: string; challengeId: string; createdAt: string }, ttlMinutes: number): Promise<string> {
    const token = this.tokenFor(request.challengeId);
    const key = this.keyOf(token);
    const expiresAtMs = Date.parse(request.createdAt) + ttlMinutes * 60_000;
    const results = await this.redis
      .multi()
      .hsetnx(key, 'requestId', request.id)
      .hsetnx(key, 'expiresAtMs', String(expiresAtMs))
      .pexpireat(key, expiresAtMs + TOMBSTONE_SECONDS * 1000, 'NX')
      .exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
    return token;
  }

  /** Reads a challenge without using it up (the confirm page). */
  async check(token: string, now = new Date()): Promise<ChallengeCheck> {
    if (!isTokenShaped(token)) return { status: 'unknown' };
    return checkOfHash(await this.redis.hgetall(this.keyOf(token)), now);
  }

  /**
   * Uses the challenge up together with the writes `also` queues, in one MULTI: the writes happen only while the
   * challenge is still valid, and a used challenge always comes with them (no crash can leave one without the
   * other). The WATCH needs a connection of its own, since the shared one serves other requests meanwhile; that
   * costs a connection per call, so this is for the rare confirmations (tenant unblock), not the delist form.
   * Exactly one of several racing callers gets 'valid'.
   */
  async consumeWith(token: string, also: (tx: ChainableCommander, requestId: string) => void, now = new Date()): Promise<ChallengeCheck> {
    if (!isTokenShaped(token)) return { status: 'unknown' };
    const key = this.keyOf(token);
    const conn = this.redis.duplicate();
    conn.on('error', () => {}); // each command fails on its own (see redis/connection.ts)
    try {
      await conn.watch(key);
      const check = checkOfHash(await conn.hgetall(key), now);
      if (check.status !== 'valid') return check;
      const tx = conn.multi().hset(key, 'usedAt', now.toISOString());
      also(tx, check.requestId);
      // null: the challenge changed after the WATCH, i.e. another caller used it first
      return (await tx.exec()) === null ? { status: 'used', requestId: check.requestId } : check;
    } finally {
      conn.disconnect();
    }
  }

  /**
   * Uses the challenge up, moves its request to `state` with `message` on its timeline and writes the job
   * outbox entry `job`, all or nothing. `requestId` is the one a `check()` just read; exactly one caller gets 'valid'.
   */
  async consumeAndQueue(token: string, requestId: string, state: string, message: string, job: string[], now = new Date()): Promise<ChallengeCheck> {
    if (!isTokenShaped(token)) return { status: 'unknown' };
    const at = now.toISOString();
    const keys = [this.keyOf(token), this.keys.request(requestId), this.keys.requestEvents(requestId), this.keys.jobOutbox];
    return checkOf((await this.redis.eval(CONSUME, keys.length, ...keys, now.getTime(), at, requestId, state, JSON.stringify({ at, state, message }), ...job)) as [string, string]);
  }

  /** Sets the resend cool-down; false when one is already running for this email and IP. */
  async startCooldown(email: string, ip: string, seconds: number): Promise<boolean> {
    if (seconds <= 0) return true;
    return (await this.redis.set(this.keys.challengeCooldown(email, ip), '1', 'EX', seconds, 'NX')) === 'OK';
  }
}
