import { z } from 'zod';
import type { Kysely } from 'kysely';
import type { Context } from '../../context.js';
import { inTransaction } from '../../db/connection.js';
import type { Database } from '../../db/schema.js';
import { parseDuration } from '../../domain/duration.js';
import { assignmentKey, POOLS, type PoolAssignment, type PoolName } from '../../domain/pools.js';
import { ConflictError, ValidationError } from '../../errors.js';

export const tenantId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a tenant id is 1–64 letters, digits, dots, dashes or underscores');
export const domainName = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'not a domain name');

export interface AssignInput {
  kind: 'tenant' | 'domain';
  key: string;
  pool: string;
  /** "72h", "7d", "never"; unset: never. */
  expires?: string;
  reason: string;
  source: string;
  by: string;
}

/** Assigns a tenant or a sending domain to a pool, through the routing publisher, with audit and expiry. */
export async function assignPool(ctx: Context, input: AssignInput, now = new Date(), db: Kysely<Database> = ctx.db): Promise<{ assignment: PoolAssignment; version: number }> {
  const key = validateKey(input.kind, input.key);
  if (!POOLS.includes(input.pool as PoolName)) throw new ValidationError(`Unknown pool "${input.pool}". Pools: ${POOLS.join(', ')}.`, { pool: 'unknown' });
  if (!input.reason.trim()) throw new ValidationError('Say why (--reason).', { reason: 'required' });
  let expiresAt: string | null = null;
  if (input.expires && input.expires !== 'never') {
    const ms = parseDuration(input.expires);
    if (!ms) throw new ValidationError(`Cannot read the expiry "${input.expires}": use 30m, 72h, 7d, 2w or never.`, { expires: 'invalid' });
    expiresAt = new Date(now.getTime() + ms).toISOString();
  }
  const assignment: PoolAssignment = { kind: input.kind, key, pool: input.pool as PoolName, reason: input.reason.trim(), source: input.source, assignedAt: now.toISOString(), expiresAt };
  const id = assignmentKey(input.kind, key);
  const version = await inTransaction(db, async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.assignments.get(input.kind, key, trx);
    const version = await ctx.routing.publishIn(trx, [{ dataset: 'assignments', op: 'upsert', key: id, value: assignment }], now);
    await ctx.audit.appendIn(trx, { at: assignment.assignedAt, actor: input.by, action: 'pool.assign', target: id, reason: assignment.reason, before, after: assignment });
    if (expiresAt) await ctx.jobs.expireEntryIn(trx, { dataset: 'assignments', key: id, stamp: assignment.assignedAt }, expiresAt);
    return version;
  });
  return { assignment, version };
}

/** Ends an assignment now (the tenant or domain goes back to the classifier's rules). */
export async function releasePool(ctx: Context, kind: 'tenant' | 'domain', rawKey: string, by: string, reason: string, now = new Date(), db: Kysely<Database> = ctx.db): Promise<number> {
  const key = validateKey(kind, rawKey);
  const id = assignmentKey(kind, key);
  return inTransaction(db, async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.assignments.get(kind, key, trx);
    if (!before) throw new ConflictError('NOT_ASSIGNED', `${kind} ${key} has no pool assignment.`);
    const version = await ctx.routing.publishIn(trx, [{ dataset: 'assignments', op: 'remove', key: id }], now);
    await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: by, action: 'pool.release', target: id, reason, before, after: null });
    return version;
  });
}

export async function getAssignment(ctx: Context, kind: 'tenant' | 'domain', key: string): Promise<PoolAssignment | null> {
  return ctx.assignments.get(kind, key);
}

/** The live assignments that can apply to a message: its tenant's, and its sender domain's and parents'. */
export async function assignmentsFor(ctx: Context, tenant: string | null, domain: string | null): Promise<PoolAssignment[]> {
  const ids: Array<{ kind: 'tenant' | 'domain'; key: string }> = [];
  if (tenant) ids.push({ kind: 'tenant', key: tenant });
  if (domain) {
    const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
    for (let i = 0; i < labels.length - 1; i++) ids.push({ kind: 'domain', key: labels.slice(i).join('.') });
  }
  return ctx.assignments.many(ids);
}

function validateKey(kind: 'tenant' | 'domain', key: string): string {
  const parsed = (kind === 'tenant' ? tenantId : domainName).safeParse(key);
  if (!parsed.success) throw new ValidationError(`"${key}" is not a valid ${kind}: ${parsed.error.issues[0]?.message}.`, { [kind]: 'invalid' });
  return parsed.data;
}
