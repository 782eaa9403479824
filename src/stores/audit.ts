import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

/** One entry of the append-only audit log: who or what did what, to which target, with before and after. */
export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  before?: unknown;
  after?: unknown;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  target?: string;
  /** Only entries older than this id (the next page of the audit page). */
  beforeId?: number;
}

const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));

/**
 * The audit log (table `audit_log`, append-only: a trigger refuses UPDATE). An entry is written in the transaction
 * of the change it records (`appendIn(trx, …)`); `append` is for an event with no record of its own in PostgreSQL (a sign-in, a sign-out).
 */
export class AuditStore {
  constructor(private readonly db: Kysely<Database>) {}

  async appendIn(db: Kysely<Database>, entry: AuditEntry): Promise<void> {
    await db
      .insertInto('audit_log')
      .values({ at: entry.at, actor: entry.actor, action: entry.action, target: entry.target, reason: entry.reason ?? '', before: json(entry.before), after: json(entry.after) })
      .execute();
  }

  /** Appends on the store's own connection (a change made outside PostgreSQL, or nothing else to commit with). */
  append(entry: AuditEntry): Promise<void> {
    return this.appendIn(this.db, entry);
  }

  /** Newest first. */
  recent(count = 100): Promise<Array<AuditEntry & { id: string }>> {
    return this.page({}, count);
  }

  /**
   * Newest first, by exact actor, action and target (each has its index with the id, so a filtered page is an index
   * range scan however long the log is), older than `beforeId` when paging on.
   */
  async page(f: AuditFilter, limit: number): Promise<Array<AuditEntry & { id: string }>> {
    let q = this.db.selectFrom('audit_log').selectAll();
    if (f.actor) q = q.where('actor', '=', f.actor);
    if (f.action) q = q.where('action', '=', f.action);
    if (f.target) q = q.where('target', '=', f.target);
    if (f.beforeId) q = q.where('id', '<', f.beforeId);
    const rows = await q.orderBy('id', 'desc').limit(Math.max(1, Math.min(limit, 10_000))).execute();
    return rows.map((r) => ({
      id: String(r.id),
      at: r.at.toISOString(),
      actor: r.actor,
      action: r.action,
      target: r.target,
      reason: r.reason,
      ...(r.before !== null && { before: r.before }),
      ...(r.after !== null && { after: r.after }),
    }));
  }
}
