import type { ChainableCommander, Redis } from 'ioredis';
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

const userOf = (h: Record<string, string>): StaffUser | null =>
  h.email ? { email: h.email, role: h.role as Role, createdAt: h.createdAt ?? '', disabled: h.disabled === '1', sessionVersion: Number(h.sessionVersion ?? 0) } : null;

/**
 * Staff accounts (scrypt password hashes, role, disabled flag, session version) and the sign-in throttle.
 *
 * The throttle is kept per (account, client network), never per account alone, so nobody can lock a person out
 * by failing on purpose: the person signs in from their own address meanwhile. Two keys per pair: the failure
 * count (forgotten after `forgetAfterHours` without a failure) and a "wait" key whose TTL is the time until the
 * next attempt is allowed. An attempt past the free failures takes the wait key with SET NX first, so parallel
 * attempts from one client cannot slip through together.
 */
export class StaffStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly throttle: LoginThrottle,
  ) {}

  /** Creates an account, or resets its role and password (which ends its sessions); a disabled account stays disabled. */
  async add(email: string, role: Role, password: string, now = new Date()): Promise<StaffUser> {
    const key = this.keys.staffUser(email.toLowerCase());
    const fields = { email: email.toLowerCase(), role, createdAt: now.toISOString(), passwordHash: await hashPassword(password) };
    await this.redis.multi().hset(key, fields).hincrby(key, 'sessionVersion', 1).sadd(this.keys.staffAll, fields.email).exec();
    return (await this.get(fields.email))!;
  }

  async get(email: string): Promise<StaffUser | null> {
    return userOf(await this.redis.hgetall(this.keys.staffUser(email.toLowerCase())));
  }

  async list(): Promise<StaffUser[]> {
    const emails = await this.redis.smembers(this.keys.staffAll);
    return (await Promise.all(emails.sort().map((e) => this.get(e)))).filter((u): u is StaffUser => !!u);
  }

  /* The changes below go into the caller's transaction, beside the audit entry that records them. */

  /** A new role; it applies from the user's next request (the role is read on every request). */
  setRoleIn(tx: ChainableCommander, email: string, role: Role): void {
    tx.hset(this.keys.staffUser(email.toLowerCase()), 'role', role);
  }

  /** Disabling also ends every session of the account; enabling lets it sign in again. */
  setDisabledIn(tx: ChainableCommander, email: string, disabled: boolean): void {
    const key = this.keys.staffUser(email.toLowerCase());
    tx.hset(key, 'disabled', disabled ? '1' : '0');
    if (disabled) tx.hincrby(key, 'sessionVersion', 1);
  }

  /** Ends every session of the account (each is refused at its next request). */
  revokeSessionsIn(tx: ChainableCommander, email: string): void {
    tx.hincrby(this.keys.staffUser(email.toLowerCase()), 'sessionVersion', 1);
  }

  /** A new password hash (see hashPassword); ends every session of the account. */
  setPasswordHashIn(tx: ChainableCommander, email: string, passwordHash: string): void {
    const key = this.keys.staffUser(email.toLowerCase());
    tx.hset(key, 'passwordHash', passwordHash).hincrby(key, 'sessionVersion', 1);
  }

  /**
   * Checks a password for a sign-in from `client` (an address or network key). A client that failed too often for
   * this account waits first, and gets no answer about the password meanwhile; every other client is unaffected.
   */
  async login(email: string, password: string, client: string): Promise<LoginResult> {
    const account = email.toLowerCase();
    const wait = await this.takeTurn(account, client);
    if (wait > 0) return { ok: false, reason: 'throttled', retryAfterMs: wait };
    const h = await this.redis.hgetall(this.keys.staffUser(account));
    dummyHash ??= hashPassword('not a real password');
    const ok = await verifyPassword(password, h.passwordHash ?? (await dummyHash));
    const user = userOf(h);
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
    const [[, failures]] = (await this.redis.multi().incr(failuresKey).pexpire(failuresKey, forgetMs).exec()) as [[unknown, number], unknown];
    const delay = this.delayMs(failures);
    if (delay) await this.redis.set(this.keys.staffLoginWait(account, client), 'failed', 'PX', delay);
    return delay;
  }
}
