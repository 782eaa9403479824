import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface ApiToken {
  name: string;
  createdAt: string;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * API tokens for the routing engine, stored only as SHA-256 hashes. Lookup is by the hash, so the secret is
 * never compared byte by byte with attacker input.
 */
export class ApiTokenStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** Creates a token and returns its only clear-text copy. */
  async create(name: string, now = new Date()): Promise<string> {
    const token = `pmt_${randomBytes(32).toString('base64url')}`;
    await this.redis.hset(this.keys.apiTokens, hashOf(token), JSON.stringify({ name, createdAt: now.toISOString() } satisfies ApiToken));
    return token;
  }

  async verify(token: string): Promise<ApiToken | null> {
    if (!/^pmt_[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const raw = await this.redis.hget(this.keys.apiTokens, hashOf(token));
    return raw ? (JSON.parse(raw) as ApiToken) : null;
  }
}
