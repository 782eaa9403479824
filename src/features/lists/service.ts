import type { Context } from '../../context.js';
import type { AllowEntry } from '../../domain/datasets.js';
import { allowRefusal, blockWidthRefusal, liftRefusal, listingTargetRefusal } from '../../domain/guardrails.js';
import { ConflictError, ForbiddenError, ValidationError } from '../../errors.js';
import type { StaffUser } from '../../stores/staff.js';
import { addListing, parseTarget, removeListing } from '../blocklist/service.js';

/** Staff listing: the same use case as the CLI, with the width guardrail and an audit entry. */
export async function staffAddListing(ctx: Context, user: StaffUser, input: { target: string; category: string; expires?: string; reason?: string; override?: boolean }, now = new Date()) {
  const net = parseTarget(input.target);
  const refusal = blockWidthRefusal(ctx.policy, net, user.role);
  if (refusal) throw new ForbiddenError('ROLE_REQUIRED', refusal);
  const target = listingTargetRefusal(ctx.policy, net);
  if (target && !(target.overridable && input.override)) throw new ValidationError(target.reason, { target: target.overridable ? 'our-pool' : 'special-purpose' });
  const reason = input.reason ?? input.category;
  return addListing(ctx, { target: net.text, category: input.category, ...(input.expires && { expires: input.expires }), ...(input.reason && { reason: input.reason }), source: 'staff', by: user.email }, now, (trx, before, after) =>
    ctx.audit.appendIn(trx, { at: now.toISOString(), actor: user.email, action: 'blocklist.add', target: net.text, reason, before, after }),
  );
}

export async function staffRemoveListing(ctx: Context, user: StaffUser, target: string, reason: string, now = new Date()) {
  const net = parseTarget(target);
  return removeListing(
    ctx,
    net.text,
    user.email,
    reason || 'removed by staff',
    now,
    (lifted) => {
      const refusal = liftRefusal(ctx.policy, lifted, user.role);
      if (refusal) throw new ForbiddenError('ROLE_REQUIRED', refusal);
    },
    (trx, change, before) => ctx.audit.appendIn(trx, { at: now.toISOString(), actor: user.email, action: `blocklist.${change === 'removed' ? 'remove' : 'exclude'}`, target: net.text, reason, before, after: null }),
  );
}

export async function allowEntries(ctx: Context): Promise<AllowEntry[]> {
  return ctx.allowlist.list();
}

/** Adds an allow entry within the guardrails; the count is checked and written atomically enough for a capped list. */
export async function allow(ctx: Context, user: StaffUser, input: { target: string; reason: string; reviewBy?: string }, now = new Date()): Promise<AllowEntry> {
  const net = parseTarget(input.target);
  if (!input.reason.trim()) throw new ValidationError('Say why this sender must be allowed.', { reason: 'required' });
  const reviewBy = input.reviewBy ? new Date(`${input.reviewBy}T00:00:00Z`) : new Date(now.getTime() + ctx.policy.allowlist.reviewDays * 86_400_000);
  if (Number.isNaN(reviewBy.getTime())) throw new ValidationError('The review date must be a date (YYYY-MM-DD).', { reviewBy: 'invalid' });
  const entry: AllowEntry = { cidr: net.text, reason: input.reason.trim(), addedBy: user.email, createdAt: now.toISOString(), reviewBy: reviewBy.toISOString().slice(0, 10) };
  // The cap is counted under the publisher's lock: two staff adding at once cannot both take the last place.
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const count = await ctx.allowlist.count(trx);
    const exists = (await ctx.allowlist.get(net.text, trx)) !== null;
    const refusal = allowRefusal(ctx.policy, net, user.role, exists ? count - 1 : count, reviewBy, now);
    if (refusal) throw refusal.includes('admin role') ? new ForbiddenError('ROLE_REQUIRED', refusal) : new ValidationError(refusal, { target: 'refused' });
    await ctx.routing.publishIn(trx, [{ dataset: 'allowlist', op: 'upsert', key: net.text, value: entry }], now);
    await ctx.audit.appendIn(trx, { at: entry.createdAt, actor: user.email, action: 'allowlist.add', target: net.text, reason: entry.reason, after: entry });
  });
  return entry;
}

export async function disallow(ctx: Context, user: StaffUser, target: string, now = new Date()): Promise<void> {
  const net = parseTarget(target);
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.allowlist.get(net.text, trx);
    if (!before) throw new ConflictError('NOT_ALLOWED', `${net.text} is not on the allow list.`);
    await ctx.routing.publishIn(trx, [{ dataset: 'allowlist', op: 'remove', key: net.text }], now);
    await ctx.audit.appendIn(trx, { at: now.toISOString(), actor: user.email, action: 'allowlist.remove', target: net.text, reason: 'removed', before });
  });
}
