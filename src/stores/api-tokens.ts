import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface ApiToken {
  name: string;
  createdAt: string;
}

const hashOf = (token: string) => createHash('sha256').update(token).digest();

/** A live token of this name exists already (a name is unique among live tokens; a revoked name can be issued again). */
export class TokenNameTakenError extends Error {
  constructor(readonly tokenName: string) {
    super(`A live token named "${tokenName}" exists already: revoke it first, or choose another name.`);
  }
}

/**
 * API tokens for the routing engine and partners (table `api_tokens`), stored only as SHA-256 hashes. Lookup is by
 * the hash, so the secret is never compared byte by byte with attacker input. Revoking keeps the row (who made it,
 * who revoked it and when).
 */
export class ApiTokenStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates a token and returns its only clear-text copy. */
  create(name: string, now = new Date(), by = ''): Promise<string> {
    return this.createIn(this.db, name, now, by);
  }

  /** The same, inside the caller's transaction (beside its audit entry). */
  async createIn(db: Kysely<Database>, name: string, now = new Date(), by = ''): Promise<string> {
    const token = `pmt_${randomBytes(32).toString('base64url')}`;
    const row = await db
      .insertInto('api_tokens')
      .values({ name, token_hash: hashOf(token), created_at: now, created_by: by })
      .onConflict((oc) => oc.column('name').where('revoked_at', 'is', null).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!row) throw new TokenNameTakenError(name);
    return token;
  }

  /** Every live token's name and creation date, oldest first (the secrets are not stored, so never shown). */
  async list(): Promise<ApiToken[]> {
    const rows = await this.db.selectFrom('api_tokens').select(['name', 'created_at']).where('revoked_at', 'is', null).orderBy('created_at').orderBy('name').execute();
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at.toISOString() }));
  }

  /**
   * Revokes the live token of this name inside the caller's transaction, and returns it (none: an empty list). It stops
   * working at its next request: verify reads the store every time, nothing is cached.
   */
  async revokeIn(db: Kysely<Database>, name: string, by = ''): Promise<ApiToken[]> {
    const rows = await db
      .updateTable('api_tokens')
      .set({ revoked_at: sql`now()`, revoked_by: by })
      .where('name', '=', name)
      .where('revoked_at', 'is', null)
      .returning(['name', 'created_at'])
      .execute();
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at.toISOString() }));
  }

  async verify(token: string): Promise<ApiToken | null> {
    if (!/^pmt_[A-Za-z0-9_-]{43}$/.test(token)) return null;
    const row = await this.db.selectFrom('api_tokens').select(['name', 'created_at']).where('token_hash', '=', hashOf(token)).where('revoked_at', 'is', null).executeTakeFirst();
    return row ? { name: row.name, createdAt: row.created_at.toISOString() } : null;
  }
}
