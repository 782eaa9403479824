import { createHash, randomBytes } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
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
    const tx = this.redis.multi();
    const token = this.createIn(tx, name, now);
    await tx.exec();
    return token;
  }

  /** The same, inside the caller's transaction (beside its audit entry). */
  createIn(tx: ChainableCommander, name: string, now = new Date()): string {
    const token = `pmt_${randomBytes(32).toString('base64url')}`;
    tx.hset(this.keys.apiTokens, hashOf(token), JSON.stringify({ name, createdAt: now.toISOString() } satisfies ApiToken));
    return token;
  }

  /** Every token's name and creation date, oldest first (the secrets are not stored, so never shown). */
  async list(): Promise<ApiToken[]> {
    const values = await this.redis.hvals(this.keys.apiTokens);
    return values.map((v) => JSON.parse(v) as ApiToken).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  /**
   * Deletes every token of this name inside the caller's transaction, and returns them. Each stops working at its
   * next request: verify reads the store every time, nothing is cached.
   */
  async revokeIn(tx: ChainableCommander, name: string): Promise<ApiToken[]> {
    const all = await this.redis.hgetall(this.keys.apiTokens);
    const gone = Object.entries(all).filter(([, v]) => (JSON.parse(v) as ApiToken).name === name);
    if (gone.length) tx.hdel(this.keys.apiTokens, ...gone.map(([hash]) => hash));
    return gone.map(([, v]) => JSON.parse(v) as ApiToken);
  }

  async verify(token: string): Promise<ApiToken | null> {
    if (!/^pmt_[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const raw = await this.redis.hget(this.keys.apiTokens, hashOf(token));
    return raw ? (JSON.parse(raw) as ApiToken) : null;
  }
}
