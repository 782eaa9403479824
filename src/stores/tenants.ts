import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { customerKeys, resolveCustomer, type CustomerDecision, type CustomerMatch, type CustomerSignals, type DirectoryAnswers } from '../domain/customer.js';
import { domainChain } from '../domain/customer.js';

export interface Tenant {
  id: string;
  name: string;
  createdAt: string;
  domains: string[];
  feedbackIds: string[];
  verpPatterns: string[];
  contacts: Array<{ email: string; name: string; role: 'abuse' | 'technical' | 'admin' }>;
}

/** A change refused because the value is registered already (to this tenant or another one). */
export class DirectoryConflictError extends Error {
  constructor(
    readonly kind: 'tenant' | 'domain' | 'feedbackId' | 'verp' | 'contact',
    readonly value: string,
    readonly owner: string | null,
  ) {
    super(owner ? `${value} is registered to tenant ${owner} already` : `${value} exists already`);
  }
}

const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === '23505';

/**
 * The tenant directory (tables tenants, tenant_domains, tenant_feedback_ids, tenant_verp_patterns, tenant_contacts).
 * Values come validated (src/domain/tenants.ts; the database checks them again, migration 0006). The changes go
 * into the caller's transaction, beside the audit entry that records them; reads use the store's own connection.
 * Registered domains, Feedback-ID identifiers and VERP patterns each belong to one tenant (a second registration
 * is a DirectoryConflictError naming the owner).
 */
export class TenantStore {
  constructor(private readonly db: Kysely<Database>) {}

  async exists(id: string, db: Kysely<Database> = this.db): Promise<boolean> {
    return !!(await db.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst());
  }

  /** Creates a tenant (DirectoryConflictError when the id exists). */
  async addIn(db: Kysely<Database>, id: string, name: string, now = new Date()): Promise<void> {
    const row = await db.insertInto('tenants').values({ id, name, created_at: now, updated_at: now }).onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst();
    if (!row) throw new DirectoryConflictError('tenant', id, null);
  }

  /** Creates the tenant when it is missing; true when it was created. */
  async ensureIn(db: Kysely<Database>, id: string, name = '', now = new Date()): Promise<boolean> {
    return !!(await db.insertInto('tenants').values({ id, name, created_at: now, updated_at: now }).onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst());
  }

  async setNameIn(db: Kysely<Database>, id: string, name: string): Promise<void> {
    await db.updateTable('tenants').set({ name, updated_at: sql`now()` }).where('id', '=', id).execute();
  }

  async get(id: string): Promise<Tenant | null> {
    return (await this.list({ ids: [id], limit: 1 }))[0] ?? null;
  }

  /**
   * Tenants by id, with everything registered to them: all (up to `limit`), those whose id or name contains `q`,
   * or those with one of the registered values `q` names (a domain, its parents, an identifier, a pattern).
   */
  async list(opts: { q?: string; ids?: string[]; limit?: number } = {}): Promise<Tenant[]> {
    const limit = Math.max(1, Math.min(opts.limit ?? 200, 1000));
    let q = this.db.selectFrom('tenants').selectAll();
    if (opts.ids) q = q.where('id', 'in', opts.ids.length ? opts.ids : ['']);
    const needle = opts.q?.trim().toLowerCase().slice(0, 253);
    if (needle) {
      const like = `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      const chain = /\./.test(needle) ? domainChain(needle) : [];
      q = q.where((eb) =>
        eb.or([
          eb(sql`lower(id)`, 'like', like),
          eb(sql`lower(name)`, 'like', like),
          eb('id', 'in', eb.selectFrom('tenant_domains').select('tenant_id').where('domain', 'in', chain.length ? chain : [needle])),
          eb('id', 'in', eb.selectFrom('tenant_feedback_ids').select('tenant_id').where('identifier', '=', needle)),
          eb('id', 'in', eb.selectFrom('tenant_verp_patterns').select('tenant_id').where('pattern', '=', needle)),
        ]),
      );
    }
    const tenants = await q.orderBy('id').limit(limit).execute();
    if (!tenants.length) return [];
    const ids = tenants.map((t) => t.id);
    const [domains, feedbackIds, verp, contacts] = await Promise.all([
      this.db.selectFrom('tenant_domains').select(['tenant_id', 'domain']).where('tenant_id', 'in', ids).orderBy('domain').execute(),
      this.db.selectFrom('tenant_feedback_ids').select(['tenant_id', 'identifier']).where('tenant_id', 'in', ids).orderBy('identifier').execute(),
      this.db.selectFrom('tenant_verp_patterns').select(['tenant_id', 'pattern']).where('tenant_id', 'in', ids).orderBy('pattern').execute(),
      this.db.selectFrom('tenant_contacts').select(['tenant_id', 'email', 'name', 'role']).where('tenant_id', 'in', ids).orderBy('email').execute(),
    ]);
    const by = <T extends { tenant_id: string }, V>(rows: T[], f: (r: T) => V) => {
      const m = new Map<string, V[]>();
      for (const r of rows) m.set(r.tenant_id, [...(m.get(r.tenant_id) ?? []), f(r)]);
      return m;
    };
    const d = by(domains, (r) => r.domain);
    const f = by(feedbackIds, (r) => r.identifier);
    const v = by(verp, (r) => r.pattern);
    const c = by(contacts, (r) => ({ email: r.email, name: r.name, role: r.role }));
    return tenants.map((t) => ({ id: t.id, name: t.name, createdAt: t.created_at.toISOString(), domains: d.get(t.id) ?? [], feedbackIds: f.get(t.id) ?? [], verpPatterns: v.get(t.id) ?? [], contacts: c.get(t.id) ?? [] }));
  }

  /** The domains registered to a tenant (sorted); empty when it has none or is not in the directory. */
  async domainsOf(id: string): Promise<string[]> {
    return (await this.db.selectFrom('tenant_domains').select('domain').where('tenant_id', '=', id).orderBy('domain').limit(10_000).execute()).map((r) => r.domain);
  }

  /** Which tenant a domain (or its most specific registered parent) belongs to. */
  async ownerOfDomain(domain: string): Promise<{ tenant: string; domain: string } | null> {
    const chain = domainChain(domain.toLowerCase());
    if (!chain.length) return null;
    const rows = await this.db.selectFrom('tenant_domains').select(['domain', 'tenant_id']).where('domain', 'in', chain).execute();
    const hit = rows.sort((a, b) => b.domain.length - a.domain.length)[0];
    return hit ? { tenant: hit.tenant_id, domain: hit.domain } : null;
  }

  async addDomainIn(db: Kysely<Database>, tenant: string, domain: string): Promise<void> {
    const row = await db.insertInto('tenant_domains').values({ domain, tenant_id: tenant }).onConflict((oc) => oc.column('domain').doNothing()).returning('domain').executeTakeFirst();
    if (!row) throw new DirectoryConflictError('domain', domain, await this.ownerOf(db, 'tenant_domains', 'domain', domain));
  }

  async addFeedbackIdIn(db: Kysely<Database>, tenant: string, identifier: string): Promise<void> {
    const row = await db.insertInto('tenant_feedback_ids').values({ identifier, tenant_id: tenant }).onConflict((oc) => oc.column('identifier').doNothing()).returning('identifier').executeTakeFirst();
    if (!row) throw new DirectoryConflictError('feedbackId', identifier, await this.ownerOf(db, 'tenant_feedback_ids', 'identifier', identifier));
  }

  async addVerpIn(db: Kysely<Database>, tenant: string, pattern: string): Promise<void> {
    const row = await db.insertInto('tenant_verp_patterns').values({ pattern, tenant_id: tenant }).onConflict((oc) => oc.column('pattern').doNothing()).returning('pattern').executeTakeFirst();
    if (!row) throw new DirectoryConflictError('verp', pattern, await this.ownerOf(db, 'tenant_verp_patterns', 'pattern', pattern));
  }

  async addContactIn(db: Kysely<Database>, tenant: string, email: string, name: string, role: 'abuse' | 'technical' | 'admin'): Promise<void> {
    try {
      await db.insertInto('tenant_contacts').values({ tenant_id: tenant, email, name, role }).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new DirectoryConflictError('contact', `${email} (${role})`, tenant);
      throw err;
    }
  }

  /** Each remove answers whether the value was registered to this tenant (and is now gone). */
  async removeDomainIn(db: Kysely<Database>, tenant: string, domain: string): Promise<boolean> {
    return !!(await db.deleteFrom('tenant_domains').where('tenant_id', '=', tenant).where('domain', '=', domain).returning('domain').executeTakeFirst());
  }

  async removeFeedbackIdIn(db: Kysely<Database>, tenant: string, identifier: string): Promise<boolean> {
    return !!(await db.deleteFrom('tenant_feedback_ids').where('tenant_id', '=', tenant).where('identifier', '=', identifier).returning('identifier').executeTakeFirst());
  }

  async removeVerpIn(db: Kysely<Database>, tenant: string, pattern: string): Promise<boolean> {
    return !!(await db.deleteFrom('tenant_verp_patterns').where('tenant_id', '=', tenant).where('pattern', '=', pattern).returning('pattern').executeTakeFirst());
  }

  async removeContactIn(db: Kysely<Database>, tenant: string, email: string, role: string): Promise<boolean> {
    return !!(await db.deleteFrom('tenant_contacts').where('tenant_id', '=', tenant).where('email', '=', email).where('role', '=', role as 'abuse').returning('id').executeTakeFirst());
  }

  private async ownerOf(db: Kysely<Database>, table: 'tenant_domains' | 'tenant_feedback_ids' | 'tenant_verp_patterns', column: 'domain' | 'identifier' | 'pattern', value: string): Promise<string | null> {
    const row = await (db as Kysely<any>).selectFrom(table).select('tenant_id').where(column, '=', value).executeTakeFirst();
    return (row?.tenant_id as string | undefined) ?? null;
  }

  /**
   * What the directory says about a report's signals (src/domain/customer.ts): its Feedback-ID parts, its domains
   * with their parents, and the VERP patterns its 5321.MailFrom matches. Three indexed queries (VERP: LIKE over the patterns
   * of the MailFrom's domain), bounded by customerKeys().
   */
  async answers(signals: CustomerSignals): Promise<DirectoryAnswers> {
    const keys = customerKeys(signals);
    const none = { feedbackIds: new Map<string, string>(), domains: new Map<string, string>(), verp: [] as Array<{ tenant: string; pattern: string }> };
    if (!keys.feedbackIdParts.length && !keys.domains.length && !keys.mailFrom) return none;
    // One statement (a round trip per report counts: the worker ingests hundreds a second), each part on its index.
    const mailFrom = keys.mailFrom ?? '';
    const { rows } = await sql<{ kind: 'f' | 'd' | 'v'; value: string; tenant_id: string }>`
      SELECT 'f' AS kind, identifier AS value, tenant_id FROM tenant_feedback_ids WHERE identifier = ANY(${keys.feedbackIdParts}::text[])
      UNION ALL
      SELECT 'd', domain, tenant_id FROM tenant_domains WHERE domain = ANY(${keys.domains}::text[])
      UNION ALL
      (SELECT 'v', pattern, tenant_id FROM tenant_verp_patterns
        WHERE ${mailFrom} <> '' AND split_part(pattern, '@', 2) = ${mailFrom.slice(mailFrom.indexOf('@') + 1)}
          AND ${mailFrom} LIKE replace(replace(pattern, '_', '\\_'), '*', '%')
        ORDER BY pattern LIMIT 20)`.execute(this.db);
    for (const r of rows) {
      if (r.kind === 'f') none.feedbackIds.set(r.value, r.tenant_id);
      else if (r.kind === 'd') none.domains.set(r.value, r.tenant_id);
      else none.verp.push({ tenant: r.tenant_id, pattern: r.value });
    }
    return none;
  }

  /** The customer of a report, the signal that found it and how sure that is, with the reason and the evidence (src/domain/customer.ts). */
  async resolveCustomer(signals: CustomerSignals): Promise<CustomerDecision> {
    return resolveCustomer(signals, await this.answers(signals));
  }

  /** The customer alone: `{ tenant, signal, confidence, detail }`, or null (none found, or equal signals disagree). */
  async findCustomer(signals: CustomerSignals): Promise<CustomerMatch | null> {
    return (await this.resolveCustomer(signals)).match;
  }
}
