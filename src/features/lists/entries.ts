import type { Kysely } from 'kysely';
import type { Context } from '../../context.js';
import type { Database } from '../../db/schema.js';
import type { AllowEntry, Dataset, DatasetValues, Restriction } from '../../domain/datasets.js';
import { parseDuration } from '../../domain/duration.js';
import { allowRefusal, blockWidthRefusal, liftRefusal } from '../../domain/guardrails.js';
import { parseNetwork } from '../../domain/ip.js';
import { isLive, type BlockEntry, type Exclusion } from '../../domain/listing.js';
import { assignmentKey, type PoolAssignment } from '../../domain/pools.js';
import { ConflictError, ForbiddenError, ValidationError } from '../../errors.js';
import type { StaffUser } from '../../stores/staff.js';
import { restrictionKey } from '../../stores/restrictions.js';
import { parseTarget } from '../blocklist/service.js';
import { domainName, tenantId } from '../pools/service.js';

/**
 * Row actions of the staff list tables beyond add and remove: edit an entry's reason and expiry, remove an exclusion.
 * Each is one transaction under the routing publisher's lock (the change, its version and feed row, the audit row
 * with before and after, the expiry job for a new expiry), within the guardrails of the action that made the entry:
 * what only an admin may list or lift, only an admin may edit.
 */
export interface EntryEdit {
  /** The new reason; empty keeps the old one. */
  reason?: string;
  /** A duration from now (30m, 72h, 7d, 2w) or `never`; empty keeps the old expiry. */
  expires?: string;
}

function cleanReason(text: string | undefined): string | undefined {
  const t = (text ?? '').trim();
  if (!t) return undefined;
  if (t.length < 3 || t.length > 500) throw new ValidationError('A reason is 3 to 500 characters.', { reason: 'length' });
  return t;
}

/** The expiry an edit asks for: undefined to keep it, null for never, else the time. */
function expiryOf(text: string | undefined, now: Date): string | null | undefined {
  const t = (text ?? '').trim();
  if (!t) return undefined;
  if (t === 'never') return null;
  const ms = parseDuration(t);
  if (!ms) throw new ValidationError(`Cannot read the expiry "${t.slice(0, 40)}": use 30m, 72h, 7d, 2w or never.`, { expires: 'invalid' });
  return new Date(now.getTime() + ms).toISOString();
}

function nothingToChange(reason: string | undefined, expires: string | null | undefined): void {
  if (reason === undefined && expires === undefined) throw new ValidationError('Give a new reason or a new expiry.', { reason: 'required', expires: 'required' });
}

/**
 * Reads the entry under the publisher's lock, lets `change` check and build its new value, publishes it, and writes the
 * audit row (and the expiry job when the new value expires).
 */
async function editEntry<D extends 'blocklist' | 'exclusions' | 'assignments' | 'restrictions'>(
  ctx: Context,
  user: StaffUser,
  dataset: D,
  key: string,
  action: string,
  reason: string,
  now: Date,
  change: (before: DatasetValues[D], trx: Kysely<Database>) => Promise<DatasetValues[D]>,
  stampOf: (v: DatasetValues[D]) => string,
  alsoIn?: (trx: Kysely<Database>, before: DatasetValues[D], after: DatasetValues[D]) => Promise<void>,
): Promise<DatasetValues[D]> {
  return ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = (await ctx.routing.entry(dataset as Dataset, key, trx)) as DatasetValues[D] | null;
    if (!before) throw new ConflictError('NOT_FOUND', `${key} is not in the ${dataset} list (any more).`);
    const after = await change(before, trx);
    await ctx.routing.publishIn(trx, [{ dataset, op: 'upsert', key, value: after } as never], now);
    await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: user.email, action, target: key, reason, before, after });
    const expiresAt = (after as { expiresAt?: string | null }).expiresAt;
    // An exclusion past its expiry stops counting by itself (no job); the other datasets are removed by their job.
    if (dataset !== 'exclusions' && expiresAt && expiresAt !== (before as { expiresAt?: string | null }).expiresAt) {
      await ctx.jobs.expireEntryIn(trx, { dataset: dataset as 'blocklist' | 'assignments' | 'restrictions', key, stamp: stampOf(after) }, expiresAt);
    }
    await alsoIn?.(trx, before, after);
    return after;
  });
}

/** A listing's reason or expiry changed from its row; a listing only an admin may make, only an admin may edit. */
export async function editListing(ctx: Context, user: StaffUser, target: string, edit: EntryEdit, now = new Date()): Promise<BlockEntry> {
  const net = parseTarget(target);
  const refusal = blockWidthRefusal(ctx.policy, net, user.role);
  if (refusal) throw new ForbiddenError('ROLE_REQUIRED', refusal);
  const reason = cleanReason(edit.reason);
  const expiresAt = expiryOf(edit.expires, now);
  nothingToChange(reason, expiresAt);
  return editEntry(ctx, user, 'blocklist', net.text, 'blocklist.edit', reason ?? 'expiry changed', now, async (b) => ({ ...b, ...(reason !== undefined && { reason }), ...(expiresAt !== undefined && { expiresAt }) }), (v) => v.listedAt, async (trx, b, a) => {
    const what = [reason !== undefined && `reason "${b.reason}" → "${a.reason}"`, expiresAt !== undefined && `expiry ${b.expiresAt ?? 'never'} → ${a.expiresAt ?? 'never'}`].filter(Boolean).join('; ');
    await ctx.blocklist.addHistoryIn(trx, net.text, { at: now.toISOString(), action: 'listed', by: user.email, detail: `edited: ${what}` });
  });
}

/** The live listings an exclusion punches: what only an admin may list, only an admin may lift or re-cover. */
async function exclusionRefusal(ctx: Context, user: StaffUser, cidr: string, trx: Kysely<Database>, now: Date): Promise<void> {
  const covering = (await ctx.blocklist.listingsContaining(parseNetwork(cidr), trx)).filter((l) => isLive(l, now));
  const refusal = liftRefusal(ctx.policy, covering, user.role);
  if (refusal) throw new ForbiddenError('ROLE_REQUIRED', refusal);
}

export async function editExclusion(ctx: Context, user: StaffUser, target: string, edit: EntryEdit, now = new Date()): Promise<Exclusion> {
  const net = parseTarget(target);
  const reason = cleanReason(edit.reason);
  const expiresAt = expiryOf(edit.expires, now);
  nothingToChange(reason, expiresAt);
  return editEntry(ctx, user, 'exclusions', net.text, 'exclusions.edit', reason ?? 'expiry changed', now, async (b, trx) => {
    await exclusionRefusal(ctx, user, net.text, trx, now);
    return { ...b, ...(reason !== undefined && { reason }), ...(expiresAt !== undefined && { expiresAt }) };
  }, (v) => v.createdAt);
}

/** Removes an exclusion: the listing around it covers the address again (its history says so). */
export async function removeExclusion(ctx: Context, user: StaffUser, target: string, why: string, now = new Date()): Promise<void> {
  const net = parseTarget(target);
  const reason = cleanReason(why);
  if (!reason) throw new ValidationError('Say why the exclusion goes (3 to 500 characters).', { reason: 'required' });
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.blocklist.getExclusion(net.text, trx);
    if (!before) throw new ConflictError('NOT_EXCLUDED', `${net.text} has no exclusion.`);
    await exclusionRefusal(ctx, user, net.text, trx, now);
    await ctx.blocklist.applyIn(trx, [{ dataset: 'exclusions', op: 'remove', key: net.text }], [{ cidr: net.text, event: { at: now.toISOString(), action: 'listed', by: user.email, detail: `exclusion removed: ${reason}` } }], now);
    await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: user.email, action: 'exclusions.remove', target: net.text, reason, before, after: null });
  });
}

/** An allow entry's reason or review date, within the allow-list guardrails (width by role, refused ranges, a review within a year). */
export async function editAllowEntry(ctx: Context, user: StaffUser, target: string, edit: { reason?: string; reviewBy?: string }, now = new Date()): Promise<AllowEntry> {
  const net = parseTarget(target);
  const reason = cleanReason(edit.reason);
  const review = (edit.reviewBy ?? '').trim();
  if (review && (!/^\d{4}-\d{2}-\d{2}$/.test(review) || Number.isNaN(Date.parse(`${review}T00:00:00Z`)))) throw new ValidationError('The review date must be a date (YYYY-MM-DD).', { reviewBy: 'invalid' });
  if (reason === undefined && !review) throw new ValidationError('Give a new reason or a new review date.', { reason: 'required', reviewBy: 'required' });
  return ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.allowlist.get(net.text, trx);
    if (!before) throw new ConflictError('NOT_ALLOWED', `${net.text} is not on the allow list.`);
    const after: AllowEntry = { ...before, ...(reason !== undefined && { reason }), ...(review && { reviewBy: review }) };
    const refusal = allowRefusal(ctx.policy, net, user.role, 0, new Date(`${after.reviewBy}T00:00:00Z`), now);
    if (refusal) throw refusal.includes('admin role') ? new ForbiddenError('ROLE_REQUIRED', refusal) : new ValidationError(refusal, { reviewBy: 'refused' });
    await ctx.routing.publishIn(trx, [{ dataset: 'allowlist', op: 'upsert', key: net.text, value: after }], now);
    await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: user.email, action: 'allowlist.edit', target: net.text, reason: reason ?? 'review date changed', before, after });
    return after;
  });
}

export async function editAssignment(ctx: Context, user: StaffUser, kind: 'tenant' | 'domain', rawKey: string, edit: EntryEdit, now = new Date()): Promise<PoolAssignment> {
  const parsed = (kind === 'tenant' ? tenantId : domainName).safeParse(rawKey);
  if (!parsed.success) throw new ValidationError(`Not a valid ${kind}.`, { key: 'invalid' });
  const reason = cleanReason(edit.reason);
  const expiresAt = expiryOf(edit.expires, now);
  nothingToChange(reason, expiresAt);
  return editEntry(ctx, user, 'assignments', assignmentKey(kind, parsed.data), 'pool.edit', reason ?? 'expiry changed', now, async (b) => ({ ...b, ...(reason !== undefined && { reason }), ...(expiresAt !== undefined && { expiresAt }) }), (v) => v.assignedAt);
}

/** A restriction's reason or expiry; a restriction on probation always ends (it cannot be made `never`). */
export async function editRestriction(ctx: Context, user: StaffUser, tenant: string, edit: EntryEdit, now = new Date()): Promise<Restriction> {
  if (!tenantId.safeParse(tenant).success) throw new ValidationError('Not a valid tenant id.', { tenant: 'invalid' });
  const reason = cleanReason(edit.reason);
  const expiresAt = expiryOf(edit.expires, now);
  nothingToChange(reason, expiresAt);
  return editEntry(ctx, user, 'restrictions', restrictionKey(tenant), 'restriction.edit', reason ?? 'expiry changed', now, async (b) => {
    if (b.state === 'probation' && expiresAt === null) throw new ValidationError('Probation always ends: give a duration, not "never".', { expires: 'required' });
    return { ...b, ...(reason !== undefined && { reason }), ...(expiresAt !== undefined && { expiresAt }) };
  }, (v) => v.since);
}
