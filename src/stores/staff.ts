import type { Redis } from 'ioredis';
import { sql, type Kysely, type Selectable } from 'kysely';
import type { Database, StaffUsersTable } from '../db/schema.js';
import { hashPassword, verifyPassword } from '../domain/passwords.js';
import type { Keys } from '../redis/keys.js';

export const ROLES = ['viewer', 'triager', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** viewer < triager < admin: each role may do what the ones before it may. */
export const roleAtLeast = (role: Role, needed: Role) => ROLES.indexOf(role) >= ROLES.indexOf(needed);

export interface StaffUser {
  email: string;
  role: Role;
  createdAt: string;
  /** A disabled account cannot sign in, and its sessions end at their next request. */
  disabled: boolean;
  /** Stamped into a session at sign-in; raising it (password change, disable, revoke) ends every older session. */
  sessionVersion: number;
}

/** Sign-in throttle per (account, client): after `freeFailures` failures each further attempt waits, doubling up to the cap. */
export interface LoginThrottle {
  freeFailures: number;
  baseDelaySeconds: number;
  maxDelaySeconds: number;
  forgetAfterHours: number;
}

export type LoginResult =
  | { ok: true; user: StaffUser }
  /** `throttled`: this client must wait before trying this account again (no password was checked). */
  | { ok: false; reason: 'throttled'; retryAfterMs: number }
  /** `wrong`: wrong email or password; `retryAfterMs` is the wait this failure imposes on the next attempt (0 while free). */
  | { ok: false; reason: 'wrong'; retryAfterMs: number }
  /** `disabled`: the right password for a disabled account (for the log only: answered and counted like `wrong`). */
  | { ok: false; reason: 'disabled'; retryAfterMs: number };

/** A dummy hash, verified when the account does not exist, so an unknown email takes as long as a wrong password. */
let dummyHash: Promise<string> | null = null;

const userOf = (r: Selectable<StaffUsersTable> | undefined): StaffUser | null =>
  r ? { email: r.email, role: r.role, createdAt: r.created_at.toISOString(), disabled: r.disabled_at !== null, sessionVersion: r.session_version } : null;

/**
 * Staff accounts (table `staff_users`: scrypt password hashes, role, disabled flag, session version) and the sign-in
 * throttle (in Redis: it is rate-limit coordination, not a record).
 *
 * The throttle is kept per (account, client network), never per account alone, so nobody can lock a person out
 * by failing on purpose: the person signs in from their own address meanwhile. Two keys per pair: the failure
 * count (forgotten after `forgetAfterHours` without a failure) and a "wait" key whose TTL is the time until the
 * next attempt is allowed. An attempt past the free failures takes the wait key with SET NX first, so parallel
 * attempts from one client cannot slip through together.
 */
export class StaffStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly throttle: LoginThrottle,
  ) {}

  /** Creates an account, or resets its role and password (which ends its sessions); a disabled account stays disabled. */
  async add(email: string, role: Role, password: string, now = new Date()): Promise<StaffUser> {
    return this.addIn(this.db, email, role, await hashPassword(password), now);
  }

  /** The same with a password hash already made (see hashPassword), inside the caller's transaction. */
  async addIn(db: Kysely<Database>, email: string, role: Role, passwordHash: string, now = new Date()): Promise<StaffUser> {
    const row = await db
      .insertInto('staff_users')
      .values({ email: email.toLowerCase(), role, password_hash: passwordHash, created_at: now, updated_at: now })
      .onConflict((oc) => oc.column('email').doUpdateSet({ role, password_hash: passwordHash, session_version: sql`staff_users.session_version + 1`, updated_at: now }))
      .returningAll()
      .executeTakeFirstOrThrow();
    return userOf(row)!;
  }

  async get(email: string): Promise<StaffUser | null> {
    return userOf(await this.db.selectFrom('staff_users').selectAll().where('email', '=', email.toLowerCase()).executeTakeFirst());
  }

  async list(): Promise<StaffUser[]> {
    return (await this.db.selectFrom('staff_users').selectAll().orderBy('email').execute()).map((r) => userOf(r)!);
  }

  /* The changes below go into the caller's transaction, beside the audit entry that records them. */

  /** A new role; it applies from the user's next request (the role is read on every request). */
  async setRoleIn(db: Kysely<Database>, email: string, role: Role): Promise<void> {
    await db.updateTable('staff_users').set({ role, updated_at: sql`now()` }).where('email', '=', email.toLowerCase()).execute();
  }

  /** Disabling also ends every session of the account; enabling lets it sign in again. */
  async setDisabledIn(db: Kysely<Database>, email: string, disabled: boolean): Promise<void> {
    await db
      .updateTable('staff_users')
      .set(disabled ? { disabled_at: sql`coalesce(disabled_at, now())`, session_version: sql`session_version + 1`, updated_at: sql`now()` } : { disabled_at: null, updated_at: sql`now()` })
      .where('email', '=', email.toLowerCase())
      .execute();
  }

  /** Ends every session of the account (each is refused at its next request). */
  async revokeSessionsIn(db: Kysely<Database>, email: string): Promise<void> {
    await db.updateTable('staff_users').set({ session_version: sql`session_version + 1`, updated_at: sql`now()` }).where('email', '=', email.toLowerCase()).execute();
  }

  /** A new password hash (see hashPassword); ends every session of the account. */
  async setPasswordHashIn(db: Kysely<Database>, email: string, passwordHash: string): Promise<void> {
    await db.updateTable('staff_users').set({ password_hash: passwordHash, session_version: sql`session_version + 1`, updated_at: sql`now()` }).where('email', '=', email.toLowerCase()).execute();
  }

  /**
   * Checks a password for a sign-in from `client` (an address or network key). A client that failed too often for
   * this account waits first, and gets no answer about the password meanwhile; every other client is unaffected.
   */
  async login(email: string, password: string, client: string): Promise<LoginResult> {
    const account = email.toLowerCase();
    const wait = await this.takeTurn(account, client);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterMs: wait };
    const row = await this.db.selectFrom('staff_users').selectAll().where('email', '=', account).executeTakeFirst();
    dummyHash ??= hashPassword('not a real password');
    const ok = await verifyPassword(password, row?.password_hash ?? (await dummyHash));
    const user = userOf(row);
    if (ok && user && !user.disabled) {
      await this.redis.del(this.keys.staffLoginFailures(account, client), this.keys.staffLoginWait(account, client));
      return { ok: true, user };
    }
    // A disabled account counts a failure whatever the password, so the throttle does not tell a right one apart.
    const retryAfterMs = await this.recordFailure(account, client);
    return ok && user ? { ok: false, reason: 'disabled', retryAfterMs } : { ok: false, reason: 'wrong', retryAfterMs };
  }

  /** The wait after `failures` failures: none while free, then base, 2×base, 4×base … up to the cap (ms). */
  private delayMs(failures: number): number {
    const t = this.throttle;
    if (failures < t.freeFailures) return 0;
    return Math.ceil(Math.min(t.baseDelaySeconds * 2 ** (failures - t.freeFailures), t.maxDelaySeconds) * 1000);
  }

  /** 0 when this attempt may go ahead (and, past the free failures, holds the turn); else the ms left to wait. */
  private async takeTurn(account: string, client: string): Promise<number> {
    const failures = Number((await this.redis.get(this.keys.staffLoginFailures(account, client))) ?? 0);
    const delay = this.delayMs(failures);
    if (!delay) return 0;
    const waitKey = this.keys.staffLoginWait(account, client);
    if ((await this.redis.set(waitKey, 'attempt', 'PX', delay, 'NX')) === 'OK') return 0;
    return Math.max(1, await this.redis.pttl(waitKey));
  }

  private async recordFailure(account: string, client: string): Promise<number> {
    const failuresKey = this.keys.staffLoginFailures(account, client);
    const forgetMs = Math.ceil(this.throttle.forgetAfterHours * 3_600_000);
    const results = await this.redis.multi().incr(failuresKey).pexpire(failuresKey, forgetMs).exec();
    const failed = !results ? new Error('the sign-in failure count was not written') : results.find(([err]) => err)?.[0];
    if (failed) throw failed;
    const failures = results![0]![1] as number;
    const delay = this.delayMs(failures);
    if (delay) await this.redis.set(this.keys.staffLoginWait(account, client), 'failed', 'PX', delay);
    return delay;
  }
}
