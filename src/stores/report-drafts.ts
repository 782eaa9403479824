import { gunzipSync, gzipSync } from 'node:zlib';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface DraftRecord {
  id: string;
  lang: string;
  email: string;
  category: string;
  comment: string;
  /** The parsed summary (JSON object of ReportSummary). */
  summary: Record<string, unknown>;
}

/**
 * Web reports between "preview" and "confirm" (`report_drafts`): the parsed summary and the sample, gzip-compressed,
 * kept until `expires_at` (expired ones read as gone and are deleted by `deleteExpired`).
 */
export class ReportDraftStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(draft: DraftRecord, sample: Buffer, ttlSeconds: number, now = new Date()): Promise<void> {
    await this.db
      .insertInto('report_drafts')
      .values({
        id: draft.id,
        created_at: now,
        expires_at: new Date(now.getTime() + ttlSeconds * 1000),
        email: draft.email,
        category: draft.category,
        comment: draft.comment,
        lang: draft.lang,
        summary: JSON.stringify(draft.summary),
        sample: gzipSync(sample),
        compression: 'gzip',
      })
      .execute();
  }

  /** A draft still within its hour, without its sample (null when unknown or expired). */
  async get(id: string, now = new Date()): Promise<DraftRecord | null> {
    const row = await this.db.selectFrom('report_drafts').select(['id', 'lang', 'email', 'category', 'comment', 'summary']).where('id', '=', id).where('expires_at', '>', now).executeTakeFirst();
    return row ?? null;
  }

  /** Deletes the draft in the caller's transaction and gives its sample (null when it was gone or expired). */
  async takeSampleIn(db: Kysely<Database>, id: string, now = new Date()): Promise<Buffer | null> {
    const row = await db.deleteFrom('report_drafts').where('id', '=', id).where('expires_at', '>', now).returning(['sample', 'compression']).executeTakeFirst();
    if (!row) return null;
    return row.compression === 'gzip' ? gunzipSync(row.sample) : row.sample;
  }

  /** Deletes drafts past their hour; returns how many. */
  async deleteExpired(now = new Date()): Promise<number> {
    return Number((await this.db.deleteFrom('report_drafts').where('expires_at', '<=', now).executeTakeFirst()).numDeletedRows);
  }
}
