/**
 * How each routing dataset sits in its table: the key the feed uses (a canonical CIDR text, `tenant:<id>`,
 * `domain:<name>`) against the key columns, and the entry the feed and the snapshot carry against the row. Used by the
 * routing publisher (the only writer) and by the stores that read one dataset. Reads select text the app uses as is:
 * a network as `cidr::inet` text, times as ISO 8601 UTC with milliseconds. The two address lists also say how the
 * server writes an entry as JSON (`json`), so the snapshot of a million of them never becomes a million JS objects.
 */
import { sql, type RawBuilder } from 'kysely';
import type { Dataset, DatasetValues } from '../domain/datasets.js';
import { parseNetwork } from '../domain/ip.js';
import type { BlockEntry, Exclusion } from '../domain/listing.js';
import type { PoolAssignment } from '../domain/pools.js';

export interface DatasetTable<D extends Dataset> {
  table: string;
  /** The primary-key columns (ON CONFLICT target). */
  key: string[];
  /** The select list, in the text shapes fromRow() expects. */
  select: RawBuilder<unknown>;
  /**
   * The entry as JSON text, written by the server: the very text JSON.stringify(fromRow(row)) gives (same keys in the
   * same order, a missing note left out, the same string escapes). Set for the address lists, whose snapshot part
   * the server builds (decision 0004); null for the small datasets, which the snapshot reads as rows.
   */
  json: RawBuilder<unknown> | null;
  /**
   * The snapshot order, so equal versions give identical snapshots: by key for the small datasets; null for the
   * address lists, read in their physical order (sorting a million networks took most of the snapshot's time; the
   * snapshot transaction turns synchronized and parallel scans off, so that order is the same at a given version).
   */
  order: RawBuilder<unknown> | null;
  /** The condition naming one entry by its feed key; null when the key cannot name an entry. */
  where(key: string): RawBuilder<unknown> | null;
  toRow(key: string, value: DatasetValues[D]): Record<string, unknown>;
  fromRow(row: Record<string, unknown>): DatasetValues[D];
}

/** A timestamptz as the app writes it (Date.toISOString()). */
export const isoText = (column: string) => sql`to_char(${sql.ref(column)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** isoText() (or a timestamp's plain output form, `2024-05-01 10:00:00.123456`) as Date.toISOString() text, or null. */
export function isoFrom(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const s = v as string;
  if (s.length === 24 && s.charCodeAt(10) === 84 /* T */) return s;
  const frac = s.length > 20 ? s.slice(20, 23).padEnd(3, '0') : '000';
  return `${s.slice(0, 10)}T${s.slice(11, 19)}.${frac}Z`;
}

/** A network from `abbrev(cidr::inet)` or from the plain `cidr::text` (always with its length) as the app writes it. */
export function cidrFrom(v: unknown): string {
  let s = v as string;
  if (s.endsWith('/32') && !s.includes(':')) s = s.slice(0, -3);
  else if (s.endsWith('/128')) s = s.slice(0, -4);
  return canonicalCidr(s);
}

/**
 * PostgreSQL prints networks as the app does (RFC 5952 for IPv6), except an IPv6 value it shows with a dotted tail
 * (`::1.2.3.4`); those few go through the app's own formatting.
 */
export const canonicalCidr = (text: string): string => (text.includes('.') && text.includes(':') ? parseNetwork(text).text : text);

// The address lists' entry JSON (network as the app's canonical text, strings as JSON.stringify escapes them, times
// as Date.toISOString()) is written by a trigger into `entry_json` on every insert and update: migrations/0008.

/** The `cidr = $key` condition, or null for a key that is not a canonical network. */
function cidrWhere(key: string): RawBuilder<unknown> | null {
  try {
    const net = parseNetwork(key);
    return net.text === key ? sql`cidr = ${key}::cidr` : null;
  } catch {
    return null;
  }
}

const str = (v: unknown) => v as string;
const strOrNull = (v: unknown) => (v === null || v === undefined ? null : (v as string));

const blocklist: DatasetTable<'blocklist'> = {
  table: 'blocklist_entries',
  key: ['cidr'],
  select: sql`abbrev(cidr::inet) AS cidr, category, reason, source, note, ${isoText('listed_at')} AS listed_at, ${isoText('expires_at')} AS expires_at`,
  // {"cidr":…,"category":…,"reason":…,"source":…[,"note":…],"listedAt":…,"expiresAt":…}: BlockEntry's key order.
  json: sql.ref('entry_json'), // kept by a trigger from the same expression (migration 0008)
  order: null,
  where: cidrWhere,
  toRow: (key, v) => ({ cidr: key, category: v.category, reason: v.reason, source: v.source, note: v.note ?? null, listed_at: v.listedAt, expires_at: v.expiresAt }),
  fromRow: (r): BlockEntry =>
    r.note === null || r.note === undefined
      ? { cidr: cidrFrom(r.cidr), category: str(r.category), reason: str(r.reason), source: str(r.source), listedAt: isoFrom(r.listed_at)!, expiresAt: isoFrom(r.expires_at) }
      : { cidr: cidrFrom(r.cidr), category: str(r.category), reason: str(r.reason), source: str(r.source), note: str(r.note), listedAt: isoFrom(r.listed_at)!, expiresAt: isoFrom(r.expires_at) },
};

const exclusions: DatasetTable<'exclusions'> = {
  table: 'blocklist_exclusions',
  key: ['cidr'],
  select: sql`abbrev(cidr::inet) AS cidr, reason, source, ${isoText('created_at')} AS created_at, ${isoText('expires_at')} AS expires_at`,
  // {"cidr":…,"reason":…,"source":…,"createdAt":…,"expiresAt":…}: Exclusion's key order.
  json: sql.ref('entry_json'), // kept by a trigger from the same expression (migration 0008)
  order: null,
  where: cidrWhere,
  toRow: (key, v) => ({ cidr: key, reason: v.reason, source: v.source, created_at: v.createdAt, expires_at: v.expiresAt }),
  fromRow: (r): Exclusion => ({ cidr: cidrFrom(r.cidr), reason: str(r.reason), source: str(r.source), createdAt: isoFrom(r.created_at)!, expiresAt: isoFrom(r.expires_at) }),
};

/** `tenant:<id>` / `domain:<name>` (domain/pools assignmentKey) as its two columns. */
function kindKey(key: string): { kind: 'tenant' | 'domain'; key: string } | null {
  const colon = key.indexOf(':');
  const kind = key.slice(0, colon);
  const rest = key.slice(colon + 1);
  return colon > 0 && rest && (kind === 'tenant' || kind === 'domain') ? { kind, key: rest } : null;
}

const assignments: DatasetTable<'assignments'> = {
  table: 'pool_assignments',
  key: ['kind', 'key'],
  select: sql`kind, key, pool, reason, source, ${isoText('assigned_at')} AS assigned_at, ${isoText('expires_at')} AS expires_at`,
  json: null,
  order: sql`kind COLLATE "C", key COLLATE "C"`,
  where: (k) => {
    const id = kindKey(k);
    return id ? sql`kind = ${id.kind} AND key = ${id.key}` : null;
  },
  toRow: (k, v) => {
    const id = kindKey(k)!;
    return { kind: id.kind, key: id.key, pool: v.pool, reason: v.reason, source: v.source, assigned_at: v.assignedAt, expires_at: v.expiresAt };
  },
  fromRow: (r): PoolAssignment => ({
    kind: r.kind as PoolAssignment['kind'],
    key: str(r.key),
    pool: r.pool as PoolAssignment['pool'],
    reason: str(r.reason),
    source: str(r.source),
    assignedAt: str(r.assigned_at),
    expiresAt: strOrNull(r.expires_at),
  }),
};

const allowlist: DatasetTable<'allowlist'> = {
  table: 'allow_entries',
  key: ['cidr'],
  select: sql`abbrev(cidr::inet) AS cidr, reason, added_by, ${isoText('created_at')} AS created_at, review_by::text AS review_by`,
  json: null,
  order: sql`allow_entries.cidr`,
  where: cidrWhere,
  toRow: (key, v) => ({ cidr: key, reason: v.reason, added_by: v.addedBy, created_at: v.createdAt, review_by: v.reviewBy }),
  fromRow: (r) => ({ cidr: cidrFrom(r.cidr), reason: str(r.reason), addedBy: str(r.added_by), createdAt: str(r.created_at), reviewBy: str(r.review_by) }),
};

const TENANT_KEY = /^tenant:(.+)$/;

const restrictions: DatasetTable<'restrictions'> = {
  table: 'restrictions',
  key: ['tenant'],
  select: sql`tenant, restriction, state, reason, source, ${isoText('since')} AS since, ${isoText('expires_at')} AS expires_at`,
  json: null,
  order: sql`tenant COLLATE "C"`,
  where: (key) => {
    const m = TENANT_KEY.exec(key);
    return m ? sql`tenant = ${m[1]}` : null;
  },
  toRow: (key, v) => ({ tenant: TENANT_KEY.exec(key)![1], restriction: v.restriction, state: v.state, reason: v.reason, source: v.source, since: v.since, expires_at: v.expiresAt }),
  fromRow: (r) => ({
    tenant: str(r.tenant),
    restriction: r.restriction as 'unregistered-domains',
    state: r.state as 'blocked' | 'probation',
    reason: str(r.reason),
    source: str(r.source),
    since: str(r.since),
    expiresAt: strOrNull(r.expires_at),
  }),
};

export const DATASET_TABLES: { [D in Dataset]: DatasetTable<D> } = { blocklist, exclusions, assignments, allowlist, restrictions };

/** The key of a restriction in the routing datasets (one per tenant). */
export const restrictionKey = (tenant: string) => `tenant:${tenant}`;
