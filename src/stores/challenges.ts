import { createHmac, createSecretKey, hash, type KeyObject } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import type { Keys } from '../redis/keys.js';

export type ChallengeCheck =
  | { status: 'valid'; requestId: string; expiresAt: string }
  | { status: 'used'; requestId: string }
  | { status: 'expired'; requestId: string }
  | { status: 'unknown' };

export const isTokenShaped = (token: string) => /^[A-Za-z0-9_-]{43}$/.test(token);

/**
 * Email challenges (the `challenges` table), made with their request in the same transaction in the three flows that
 * have one (unblock and report through createIn; delist in the one statement of
 * RequestStore.createWithChallengeAndJob, its form's hot path) and used up by one conditional UPDATE. The 256-bit token is HMAC(secret, challenge id): the mail job carries only
 * the request id and the worker derives the link; the table keeps only the token's SHA-256.
 */
export class ChallengeStore {
  private readonly key: KeyObject;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly redis: Redis,
    private readonly keys: Keys,
    secret: string,
  ) {
    this.key = createSecretKey(Buffer.from(secret));
  }

  tokenFor(challengeId: string): string {
    return createHmac('sha256', this.key).update(`challenge:${challengeId}`).digest('base64url');
  }

  /** What the table keeps of the link of challenge `challengeId`: its token's SHA-256. */
  tokenHashFor(challengeId: string): Buffer {
    return this.hashOf(this.tokenFor(challengeId));
  }

  private hashOf(token: string): Buffer {
    return hash('sha256', token, 'buffer'); // one-shot: no Hash object per call
  }

  /** Makes the request's challenge, valid for `ttlMinutes` from `now`, in the request's transaction. */
  async createIn(db: Kysely<Database>, challengeId: string, requestId: string, ttlMinutes: number, now = new Date()): Promise<void> {
    await db
      .insertInto('challenges')
      .values({ id: challengeId, request_id: requestId, token_hash: this.hashOf(this.tokenFor(challengeId)), created_at: now, expires_at: new Date(now.getTime() + ttlMinutes * 60_000) })
      .execute();
  }

  /** Reads a challenge without using it up (the confirm page). */
  async check(token: string, now = new Date(), db: Kysely<Database> = this.db): Promise<ChallengeCheck> {
    if (!isTokenShaped(token)) return { status: 'unknown' };
    const row = await db.selectFrom('challenges').select(['request_id', 'expires_at', 'used_at']).where('token_hash', '=', this.hashOf(token)).executeTakeFirst();
    if (!row) return { status: 'unknown' };
    if (row.used_at) return { status: 'used', requestId: row.request_id };
    if (row.expires_at.getTime() <= now.getTime()) return { status: 'expired', requestId: row.request_id };
    return { status: 'valid', requestId: row.request_id, expiresAt: row.expires_at.toISOString() };
  }

  /**
   * Uses the challenge up and, in the same transaction, runs `then` (the request's next step and its job), all or
   * nothing: one conditional UPDATE, so of racing callers exactly one gets 'valid' (the others queue on the row lock
   * and find it used). Anything else answers what the link is now (used, expired, unknown) and writes nothing.
   */
  async use(token: string, then: (trx: Kysely<Database>, requestId: string) => Promise<void>, now = new Date()): Promise<ChallengeCheck> {
    if (!isTokenShaped(token)) return { status: 'unknown' };
    return this.db.transaction().execute(async (trx) => {
      const used = await trx
        .updateTable('challenges')
        .set({ used_at: now })
        .where('token_hash', '=', this.hashOf(token))
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning(['request_id', 'expires_at'])
        .executeTakeFirst();
      if (!used) return this.check(token, now, trx);
      await then(trx, used.request_id);
      return { status: 'valid', requestId: used.request_id, expiresAt: used.expires_at.toISOString() } as const;
    });
  }

  /** Deletes challenges that expired before `before` (kept until then so a late click gets a clear page). */
  async deleteExpired(before: Date): Promise<number> {
    return Number((await this.db.deleteFrom('challenges').where('expires_at', '<', before).executeTakeFirst()).numDeletedRows);
  }

  /**
   * Sets the resend cool-down (a short-lived Redis key: coordination, not a record); false when one is already
   * running for this email (as counted) and target.
   */
  private async startCooldown(email: string, target: string, seconds: number): Promise<boolean> {
    if (seconds <= 0) return true;
    return (await this.redis.set(this.keys.challengeCooldown(email, target), '1', 'EX', seconds, 'NX')) === 'OK';
  }

  /**
   * Runs `store` (the request, its challenge and its mail job, in one transaction) under the resend cool-down: not at
   * all while one runs (false), and when `store` fails the cool-down is lifted again, so the person who retries is
   * not told "check your email" about a request that was never stored.
   */
  async underCooldown(email: string, target: string, seconds: number, store: () => Promise<void>): Promise<boolean> {
    if (!(await this.startCooldown(email, target, seconds))) return false;
    try {
      await store();
    } catch (err) {
      if (seconds > 0) await this.redis.del(this.keys.challengeCooldown(email, target)).catch(() => {});
      throw err;
    }
    return true;
  }
}
