import session, { type SessionData } from 'express-session';
import type { Redis } from 'ioredis';

/**
 * express-session's store on ioredis (connect-redis speaks only node-redis): one key per session with the
 * session's own TTL. About forty lines, so written here rather than adding a second Redis client.
 */
export class IoRedisSessionStore extends session.Store {
  constructor(
    private readonly redis: Redis,
    private readonly keyOf: (sid: string) => string,
    private readonly defaultTtlSeconds: number,
    /** When a session must end whatever its cookie says (an absolute lifetime), in ms since the epoch. */
    private readonly endsAt: (sess: SessionData) => number | undefined = () => undefined,
  ) {
    super();
  }

  private ttlOf(sess: SessionData): number {
    const expires = sess.cookie?.expires ? new Date(sess.cookie.expires).getTime() : 0;
    const ttl = expires ? Math.max(1, Math.ceil((expires - Date.now()) / 1000)) : this.defaultTtlSeconds;
    const end = this.endsAt(sess);
    return end === undefined ? ttl : Math.max(1, Math.min(ttl, Math.ceil((end - Date.now()) / 1000)));
  }

  override get(sid: string, cb: (err: unknown, session?: SessionData | null) => void): void {
    this.redis.get(this.keyOf(sid)).then((raw) => cb(null, raw ? (JSON.parse(raw) as SessionData) : null), cb);
  }

  override set(sid: string, sess: SessionData, cb?: (err?: unknown) => void): void {
    this.redis.set(this.keyOf(sid), JSON.stringify(sess), 'EX', this.ttlOf(sess)).then(() => cb?.(), cb);
  }

  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.redis.del(this.keyOf(sid)).then(() => cb?.(), cb);
  }

  override touch(sid: string, sess: SessionData, cb?: () => void): void {
    this.redis.expire(this.keyOf(sid), this.ttlOf(sess)).then(() => cb?.(), () => cb?.());
  }
}
