import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/schema.js';
import type { AllowEntry, Restriction } from '../domain/datasets.js';
import { parseNetwork, type Network } from '../domain/ip.js';
import type { Exclusion } from '../domain/listing.js';
import type { PoolAssignment } from '../domain/pools.js';
import { DATASET_TABLES, isoFrom } from './dataset-tables.js';

/**
 * The staff console's tables of the routing datasets other than the listings (BlocklistStore.page) and of the tenant
 * directory: each filtered, sorted and paged by a keyset cursor (the sort columns of the page's last row, so page
 * 1,000 costs what page 1 does). Every sort is one index's order (migration 0010), read as a range scan from the
 * cursor on. Filters come validated by the feature; a value that cannot match gives an empty page, never an error.
 */

/** A date filter: rows from `since` (inclusive) to `until` (inclusive), YYYY-MM-DD, UTC days. */
export interface DateRange {
  since?: string;
  until?: string;
}

export interface ExclusionQuery extends DateRange {
  overlapping?: Network;
  /** Who made it: `self-service`, or the staff member / operator that delisted the address. */
  source?: string;
  sort: 'newest' | 'expiring' | 'cidr';
  after?: string;
  limit: number;
}

export interface AllowQuery extends DateRange {
  overlapping?: Network;
  addedBy?: string;
  sort: 'review' | 'newest' | 'cidr';
  after?: string;
  limit: number;
}

export interface AssignmentQuery extends DateRange {
  kind?: 'tenant' | 'domain';
  key?: string;
  pool?: string;
  source?: string;
  sort: 'newest' | 'expiring' | 'key';
  after?: string;
  limit: number;
}

export interface RestrictionQuery extends DateRange {
  tenant?: string;
  state?: 'blocked' | 'probation';
  source?: string;
  sort: 'newest' | 'expiring' | 'tenant';
  after?: string;
  limit: number;
}

export interface TenantRow {
  id: string;
  name: string;
  createdAt: string;
  domains: number;
  contacts: number;
}

export interface TenantQuery extends DateRange {
  /** Part of the id or the name (case-insensitive). */
  q?: string;
  /** A registered sending domain (exact). */
  domain?: string;
  sort: 'id' | 'newest';
  after?: string;
  limit: number;
}

export interface Page<T> {
  entries: T[];
  next: string | null;
}

type Cast = 'timestamptz' | 'cidr' | 'text' | 'date';

/** One sort: its columns (an index's order), their casts for the cursor, and the direction. */
interface SortSpec {
  cols: Array<[expr: string, cast: Cast]>;
  desc: boolean;
  /** A condition the sort needs (the expiring sort leaves out entries without expiry). */
  where?: string;
}

const EXCLUSION_SORTS: Record<ExclusionQuery['sort'], SortSpec> = {
  newest: { cols: [['blocklist_exclusions.created_at', 'timestamptz'], ['blocklist_exclusions.cidr', 'cidr']], desc: true },
  expiring: { cols: [['blocklist_exclusions.expires_at', 'timestamptz'], ['blocklist_exclusions.cidr', 'cidr']], desc: false, where: 'blocklist_exclusions.expires_at IS NOT NULL' },
  cidr: { cols: [['blocklist_exclusions.cidr', 'cidr']], desc: false },
};
const ALLOW_SORTS: Record<AllowQuery['sort'], SortSpec> = {
  review: { cols: [['allow_entries.review_by', 'date'], ['allow_entries.cidr', 'cidr']], desc: false },
  newest: { cols: [['allow_entries.created_at', 'timestamptz'], ['allow_entries.cidr', 'cidr']], desc: true },
  cidr: { cols: [['allow_entries.cidr', 'cidr']], desc: false },
};
const ASSIGNMENT_SORTS: Record<AssignmentQuery['sort'], SortSpec> = {
  newest: { cols: [['pool_assignments.assigned_at', 'timestamptz'], ['pool_assignments.kind', 'text'], ['pool_assignments.key', 'text']], desc: true },
  expiring: { cols: [['pool_assignments.expires_at', 'timestamptz'], ['pool_assignments.kind', 'text'], ['pool_assignments.key', 'text']], desc: false, where: 'pool_assignments.expires_at IS NOT NULL' },
  key: { cols: [['pool_assignments.kind', 'text'], ['pool_assignments.key', 'text']], desc: false },
};
const RESTRICTION_SORTS: Record<RestrictionQuery['sort'], SortSpec> = {
  newest: { cols: [['restrictions.since', 'timestamptz'], ['restrictions.tenant', 'text']], desc: true },
  expiring: { cols: [['restrictions.expires_at', 'timestamptz'], ['restrictions.tenant', 'text']], desc: false, where: 'restrictions.expires_at IS NOT NULL' },
  tenant: { cols: [['restrictions.tenant', 'text']], desc: false },
};
const TENANT_SORTS: Record<TenantQuery['sort'], SortSpec> = {
  id: { cols: [['tenants.id', 'text']], desc: false },
  newest: { cols: [['tenants.created_at', 'timestamptz'], ['tenants.id', 'text']], desc: true },
};

export const LIST_SORTS = {
  exclusions: Object.keys(EXCLUSION_SORTS) as Array<ExclusionQuery['sort']>,
  allowlist: Object.keys(ALLOW_SORTS) as Array<AllowQuery['sort']>,
  assignments: Object.keys(ASSIGNMENT_SORTS) as Array<AssignmentQuery['sort']>,
  restrictions: Object.keys(RESTRICTION_SORTS) as Array<RestrictionQuery['sort']>,
  tenants: Object.keys(TENANT_SORTS) as Array<TenantQuery['sort']>,
};

/** A sort column as cursor text: times with microseconds in UTC, networks with their length, dates as YYYY-MM-DD. */
function cursorText(expr: string, cast: Cast): RawBuilder<unknown> {
  if (cast === 'timestamptz') return sql.raw(`to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`);
  return sql.raw(`${expr}::text`);
}

const CURSOR_CHECK: Record<Cast, (s: string) => boolean> = {
  timestamptz: (s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(s) && !Number.isNaN(Date.parse(s)),
  date: (s) => /^\d{4}-\d{2}-\d{2}$/.test(s) && !Number.isNaN(Date.parse(s)),
  cidr: (s) => {
    try {
      parseNetwork(s);
      return true;
    } catch {
      return false;
    }
  },
  text: (s) => s.length <= 300,
};

/** A cursor this store wrote for this sort; anything else (a hand-edited URL) reads as the first page. */
function decodeCursor(text: string | undefined, spec: SortSpec): string[] | null {
  if (!text) return null;
  try {
    const parts = JSON.parse(Buffer.from(text.slice(0, 1200), 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(parts) || parts.length !== spec.cols.length) return null;
    return parts.every((p, i) => typeof p === 'string' && CURSOR_CHECK[spec.cols[i]![1]](p)) ? (parts as string[]) : null;
  } catch {
    return null;
  }
}

const encodeCursor = (parts: string[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/** `column` within the UTC days of the range. */
function dateRange(column: string, r: DateRange): RawBuilder<unknown>[] {
  const out: RawBuilder<unknown>[] = [];
  if (r.since) out.push(sql`${sql.raw(column)} >= ${r.since}::date::timestamp AT TIME ZONE 'UTC'`);
  if (r.until) out.push(sql`${sql.raw(column)} < (${r.until}::date + 1)::timestamp AT TIME ZONE 'UTC'`);
  return out;
}

export class ListTableStore {
  constructor(private readonly db: Kysely<Database>) {}

  async exclusions(q: ExclusionQuery, explain = false): Promise<Page<Exclusion & { listingCidr: string | null }>> {
    const where: RawBuilder<unknown>[] = [];
    if (q.overlapping) where.push(sql`cidr && ${q.overlapping.text}::cidr`);
    if (q.source) where.push(sql`source = ${q.source}`);
    where.push(...dateRange('created_at', q));
    return this.page(explain, 'blocklist_exclusions', sql`${DATASET_TABLES.exclusions.select}, abbrev(listing_cidr::inet) AS listing_cidr`, where, EXCLUSION_SORTS[q.sort], q, (r) => ({ ...DATASET_TABLES.exclusions.fromRow(r), listingCidr: (r.listing_cidr as string | null) ?? null }));
  }

  async allowlist(q: AllowQuery, explain = false): Promise<Page<AllowEntry>> {
    const where: RawBuilder<unknown>[] = [];
    if (q.overlapping) where.push(sql`cidr && ${q.overlapping.text}::cidr`);
    if (q.addedBy) where.push(sql`added_by = ${q.addedBy}`);
    where.push(...dateRange('created_at', q));
    return this.page(explain, 'allow_entries', DATASET_TABLES.allowlist.select, where, ALLOW_SORTS[q.sort], q, (r) => ({ ...DATASET_TABLES.allowlist.fromRow(r), createdAt: isoFrom(r.created_at)! }));
  }

  async assignments(q: AssignmentQuery, explain = false): Promise<Page<PoolAssignment>> {
    const where: RawBuilder<unknown>[] = [];
    if (q.kind) where.push(sql`kind = ${q.kind}`);
    if (q.key) where.push(sql`key = ${q.key}`);
    if (q.pool) where.push(sql`pool = ${q.pool}`);
    if (q.source) where.push(sql`source = ${q.source}`);
    where.push(...dateRange('assigned_at', q));
    return this.page(explain, 'pool_assignments', DATASET_TABLES.assignments.select, where, ASSIGNMENT_SORTS[q.sort], q, DATASET_TABLES.assignments.fromRow);
  }

  async restrictions(q: RestrictionQuery, explain = false): Promise<Page<Restriction>> {
    const where: RawBuilder<unknown>[] = [];
    if (q.tenant) where.push(sql`tenant = ${q.tenant}`);
    if (q.state) where.push(sql`state = ${q.state}`);
    if (q.source) where.push(sql`source = ${q.source}`);
    where.push(...dateRange('since', q));
    return this.page(explain, 'restrictions', DATASET_TABLES.restrictions.select, where, RESTRICTION_SORTS[q.sort], q, DATASET_TABLES.restrictions.fromRow);
  }

  async tenants(q: TenantQuery, explain = false): Promise<Page<TenantRow>> {
    const where: RawBuilder<unknown>[] = [];
    const needle = q.q?.trim().toLowerCase();
    if (needle) {
      const like = `%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push(sql`(lower(tenants.id) LIKE ${like} OR lower(tenants.name) LIKE ${like})`);
    }
    if (q.domain) where.push(sql`tenants.id = (SELECT tenant_id FROM tenant_domains WHERE domain = ${q.domain.toLowerCase()})`);
    where.push(...dateRange('tenants.created_at', q));
    const select = sql`tenants.id, tenants.name, to_char(tenants.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
      (SELECT count(*) FROM tenant_domains d WHERE d.tenant_id = tenants.id)::int AS domains,
      (SELECT count(*) FROM tenant_contacts c WHERE c.tenant_id = tenants.id)::int AS contacts`;
    return this.page(explain, 'tenants', select, where, TENANT_SORTS[q.sort], q, (r) => ({ id: String(r.id), name: String(r.name), createdAt: String(r.created_at), domains: Number(r.domains), contacts: Number(r.contacts) }));
  }

  /** The page's SELECT (limit + 1 rows, to know whether a next page exists), or its plan when `explain`. */
  private async page<T>(
    explain: boolean,
    table: string,
    select: RawBuilder<unknown>,
    where: RawBuilder<unknown>[],
    spec: SortSpec,
    q: { after?: string; limit: number },
    map: (row: Record<string, unknown>) => T,
  ): Promise<Page<T>> {
    const conditions = [sql`true`, ...where];
    if (spec.where) conditions.push(sql.raw(spec.where));
    const cursor = decodeCursor(q.after, spec);
    if (cursor) {
      const cols = sql.raw(spec.cols.map(([c]) => c).join(', '));
      const vals = sql.join(spec.cols.map(([, cast], i) => sql`${cursor[i]}::${sql.raw(cast)}`));
      conditions.push(sql`(${cols}) ${sql.raw(spec.desc ? '<' : '>')} (${vals})`);
    }
    const order = sql.raw(spec.cols.map(([c]) => `${c}${spec.desc ? ' DESC' : ''}`).join(', '));
    const cursorCols = sql.join(spec.cols.map(([c, cast], i) => sql`${cursorText(c, cast)} AS ${sql.raw(`cursor_${i}`)}`));
    const query = sql<Record<string, unknown>>`SELECT ${select}, ${cursorCols} FROM ${sql.raw(table)} WHERE ${sql.join(conditions, sql` AND `)} ORDER BY ${order} LIMIT ${q.limit + 1}`;
    if (explain) {
      const { rows } = await sql<Record<string, unknown>>`EXPLAIN (FORMAT JSON) ${query}`.execute(this.db);
      return { entries: [], next: JSON.stringify(rows[0]?.['QUERY PLAN']) };
    }
    const { rows } = await query.execute(this.db);
    const entries = rows.slice(0, q.limit).map(map);
    const last = rows.length > q.limit ? rows[q.limit - 1]! : null;
    return { entries, next: last ? encodeCursor(spec.cols.map((_, i) => String(last[`cursor_${i}`]))) : null };
  }
}
