import type { Redis } from 'ioredis';
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
}

export type LoginResult = { ok: true; user: StaffUser } | { ok: false; locked: boolean; retryAfterSeconds: number };

/** A dummy hash, verified when the account does not exist, so an unknown email takes as long as a wrong password. */
let dummyHash: Promise<string> | null = null;

/** Staff accounts (scrypt password hashes) and the failed-login counter behind the lockout. */
export class StaffStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly lockout: { maxFailures: number; lockMinutes: number },
  ) {}

  async add(email: string, role: Role, password: string, now = new Date()): Promise<StaffUser> {
    const user: StaffUser = { email: email.toLowerCase(), role, createdAt: now.toISOString() };
    await this.redis.multi().hset(this.keys.staffUser(user.email), { ...user, passwordHash: await hashPassword(password) }).sadd(this.keys.staffAll, user.email).exec();
    return user;
  }

  async get(email: string): Promise<StaffUser | null> {
    const h = await this.redis.hgetall(this.keys.staffUser(email.toLowerCase()));
    return h.email ? { email: h.email, role: h.role as Role, createdAt: h.createdAt ?? '' } : null;
  }

  async list(): Promise<StaffUser[]> {
    const emails = await this.redis.smembers(this.keys.staffAll);
    return (await Promise.all(emails.sort().map((e) => this.get(e)))).filter((u): u is StaffUser => !!u);
  }

  /** Checks a password; after `maxFailures` failures in `lockMinutes` the account refuses even the right one until the time is up. */
  async login(email: string, password: string): Promise<LoginResult> {
    const key = this.keys.staffFailures(email.toLowerCase());
    const [failures, ttl] = await Promise.all([this.redis.get(key), this.redis.ttl(key)]);
    if (Number(failures ?? 0) >= this.lockout.maxFailures) return { ok: false, locked: true, retryAfterSeconds: Math.max(1, ttl) };
    const h = await this.redis.hgetall(this.keys.staffUser(email.toLowerCase()));
    dummyHash ??= hashPassword('not a real password');
    const ok = await verifyPassword(password, h.passwordHash ?? (await dummyHash));
    if (ok && h.email) {
      await this.redis.del(key);
      return { ok: true, user: { email: h.email, role: h.role as Role, createdAt: h.createdAt ?? '' } };
    }
    const [[, count]] = (await this.redis.multi().incr(key).expire(key, this.lockout.lockMinutes * 60, 'NX').exec()) as [[unknown, number], unknown];
    return { ok: false, locked: count >= this.lockout.maxFailures, retryAfterSeconds: this.lockout.lockMinutes * 60 };
  }
}
