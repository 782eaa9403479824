/**
 * The client's own copy of the routing datasets at one version. The CIDR datasets live in compact NetworkTables
 * (a million listings do not stay a million JSON objects); pool assignments and tenant restrictions, which are
 * few, stay as objects keyed like the server's hashes. Every function here is pure: applying feed entries gives
 * a new state and leaves the one in use untouched until the client swaps.
 */
import type { Restriction } from '../domain/datasets.js';
import { assignmentKey, domainAndParents, type PoolAssignment } from '../domain/pools.js';
import { compile, type BlocklistMatcher } from './matcher.js';
import { NetworkTable, expiryOf, type CidrEntry, type NetworkChange } from './network-table.js';

export interface RoutingState {
  version: number;
  generatedAt: string | null;
  blocklist: NetworkTable;
  allowlist: NetworkTable;
  /** By dataset key ("tenant:acme", "domain:example.com"). */
  assignments: ReadonlyMap<string, PoolAssignment>;
  /** By dataset key ("tenant:acme"). */
  restrictions: ReadonlyMap<string, Restriction>;
}

/** What lookups read: built from a state, swapped in whole. */
export interface RoutingView {
  state: RoutingState;
  blocked: BlocklistMatcher;
  allowed: BlocklistMatcher;
  /** Assignments by the key classify() matches them on (assignmentKey of their kind and key). */
  assignmentsByMatch: ReadonlyMap<string, PoolAssignment>;
  restrictionsByTenant: ReadonlyMap<string, Restriction>;
  /** When the earliest entry in force expires (ms; Infinity: never): the view must be rebuilt then. */
  nextExpiry: number;
}

/** One entry of the change feed, as GET /api/v1/routing/feed gives it. */
export interface FeedEntry {
  version: number;
  at?: string;
  changes: Array<{ dataset: string; op: 'upsert' | 'remove'; key: string; value?: unknown }>;
}

export class SnapshotShapeError extends Error {}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function list(snapshot: Record<string, unknown>, name: string, required: boolean): Array<Record<string, unknown>> {
  const value = snapshot[name];
  if (value === undefined && !required) return [];
  if (!Array.isArray(value)) throw new SnapshotShapeError(`the snapshot has no ${name} list`);
  return value.filter(isObject);
}

/** Reads a parsed snapshot body ({version, generatedAt, blocklist, exclusions, assignments, allowlist?, restrictions?}). */
export function stateFromSnapshot(snapshot: unknown): RoutingState {
  if (!isObject(snapshot)) throw new SnapshotShapeError('the snapshot is not a JSON object');
  const version = snapshot.version;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) throw new SnapshotShapeError('the snapshot has no version');
  const assignments = new Map<string, PoolAssignment>();
  for (const a of list(snapshot, 'assignments', true) as unknown as PoolAssignment[]) {
    if ((a.kind === 'tenant' || a.kind === 'domain') && typeof a.key === 'string') assignments.set(assignmentKey(a.kind, a.key), a);
  }
  const restrictions = new Map<string, Restriction>();
  for (const r of list(snapshot, 'restrictions', false) as unknown as Restriction[]) {
    if (typeof r.tenant === 'string') restrictions.set(`tenant:${r.tenant}`, r);
  }
  return {
    version,
    generatedAt: typeof snapshot.generatedAt === 'string' ? snapshot.generatedAt : null,
    blocklist: NetworkTable.from(list(snapshot, 'blocklist', true) as unknown as CidrEntry[], list(snapshot, 'exclusions', true) as unknown as CidrEntry[]),
    allowlist: NetworkTable.from((list(snapshot, 'allowlist', false) as unknown as CidrEntry[]).map((e) => ({ cidr: e.cidr }))),
    assignments,
    restrictions,
  };
}

const expiresOf = (value: unknown): number | null => {
  const e = expiryOf(isObject(value) ? (value as { expiresAt?: string | null }) : {});
  return e === Number.POSITIVE_INFINITY ? null : e;
};

/**
 * Applies feed entries in order. Returns null at a version gap (an entry that is not the next version): the
 * caller must read the snapshot again. Entries at or below the state's version are skipped (already in it).
 */
export function applyEntries(state: RoutingState, entries: readonly FeedEntry[]): RoutingState | null {
  let version = state.version;
  const blockChanges: NetworkChange[] = [];
  const allowChanges: NetworkChange[] = [];
  let assignments: Map<string, PoolAssignment> | null = null;
  let restrictions: Map<string, Restriction> | null = null;
  for (const entry of entries) {
    if (entry.version <= version) continue;
    if (entry.version !== version + 1) return null;
    version = entry.version;
    for (const c of entry.changes) {
      const remove = c.op === 'remove';
      switch (c.dataset) {
        case 'blocklist':
        case 'exclusions':
          blockChanges.push({ cidr: c.key, kind: c.dataset === 'blocklist' ? 'listing' : 'exclusion', expires: remove ? 'remove' : expiresOf(c.value) });
          break;
        case 'allowlist':
          allowChanges.push({ cidr: c.key, kind: 'listing', expires: remove ? 'remove' : null });
          break;
        case 'assignments':
          assignments ??= new Map(state.assignments);
          if (remove) assignments.delete(c.key);
          else if (isObject(c.value)) assignments.set(c.key, c.value as unknown as PoolAssignment);
          break;
        case 'restrictions':
          restrictions ??= new Map(state.restrictions);
          if (remove) restrictions.delete(c.key);
          else if (isObject(c.value)) restrictions.set(c.key, c.value as unknown as Restriction);
          break;
        default:
          break; // a dataset this client does not know yet
      }
    }
  }
  return {
    version,
    generatedAt: state.generatedAt,
    blocklist: state.blocklist.apply(blockChanges),
    allowlist: state.allowlist.apply(allowChanges),
    assignments: assignments ?? state.assignments,
    restrictions: restrictions ?? state.restrictions,
  };
}

/** Builds everything lookups read from a state, for the entries in force at `now` (ms). */
export function buildView(state: RoutingState, now: number, reuse?: RoutingView): RoutingView {
  const blocked = reuse && reuse.state.blocklist === state.blocklist ? reuse.blocked : compile(state.blocklist, now);
  const allowed = reuse && reuse.state.allowlist === state.allowlist ? reuse.allowed : compile(state.allowlist, now);
  const assignmentsByMatch = new Map<string, PoolAssignment>();
  for (const a of state.assignments.values()) if (a.kind === 'tenant' || a.kind === 'domain') assignmentsByMatch.set(assignmentKey(a.kind, a.key), a);
  const restrictionsByTenant = new Map<string, Restriction>();
  for (const r of state.restrictions.values()) restrictionsByTenant.set(r.tenant, r);
  return { state, blocked, allowed, assignmentsByMatch, restrictionsByTenant, nextExpiry: Math.min(blocked.nextExpiry, allowed.nextExpiry) };
}

/** The assignments classify() could match for a tenant and a sending domain (the domain's parents included). */
export function candidateAssignments(view: RoutingView, tenant: string | null, senderDomain: string | null): PoolAssignment[] {
  const out: PoolAssignment[] = [];
  if (tenant) {
    const a = view.assignmentsByMatch.get(assignmentKey('tenant', tenant));
    if (a) out.push(a);
  }
  if (senderDomain && senderDomain.trim() !== '') {
    for (const d of domainAndParents(senderDomain)) {
      const a = view.assignmentsByMatch.get(assignmentKey('domain', d));
      if (a) out.push(a);
    }
  }
  return out;
}
