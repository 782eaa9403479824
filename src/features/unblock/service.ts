import type { Context } from '../../context.js';
import type { Restriction } from '../../domain/datasets.js';
import { countingAddress } from '../../domain/email-address.js';
import { ConflictError, GoneError, NotFoundError, ValidationError } from '../../errors.js';
import { tenantId } from '../pools/service.js';
import { outboxIn } from '../../jobs/outbox.js';
import { registeredDomainsNote } from '../tenants/service.js';
import { newId, type PortalRequest } from '../../stores/requests.js';

const restrictionKey = (tenant: string) => `tenant:${tenant}`;

export async function getRestriction(ctx: Context, tenant: string): Promise<Restriction | null> {
  const raw = await ctx.redis.hget(ctx.keys.dataset('restrictions'), restrictionKey(tenant));
  return raw ? (JSON.parse(raw) as Restriction) : null;
}

/** Blocks a tenant from sending from unregistered domains (550 5.7.750), through the publisher, audited. */
export async function restrictTenant(ctx: Context, tenant: string, reason: string, by: string, now = new Date()): Promise<Restriction> {
  if (!tenantId.safeParse(tenant).success) throw new ValidationError(`"${tenant}" is not a valid tenant id.`, { tenant: 'invalid' });
  const before = await getRestriction(ctx, tenant);
  const after: Restriction = { tenant, restriction: 'unregistered-domains', state: 'blocked', reason, source: by, since: now.toISOString(), expiresAt: null };
  await ctx.routing.publish([{ dataset: 'restrictions', op: 'upsert', key: restrictionKey(tenant), value: after }]);
  // interim (issue 14): the routing datasets are still in Redis on this branch; the audit row follows the change.
  await ctx.audit.append({ at: after.since, actor: by, action: 'restriction.block', target: restrictionKey(tenant), reason, before, after });
  return after;
}

/** Lifts the block into probation: the routing engine lets the tenant send again, and the entry expires by itself. */
export async function liftToProbation(ctx: Context, tenant: string, reason: string, by: string, now = new Date()): Promise<Restriction> {
  const before = await getRestriction(ctx, tenant);
  if (!before) throw new ConflictError('NOT_RESTRICTED', `Tenant ${tenant} is not restricted.`);
  const expiresAt = new Date(now.getTime() + ctx.policy.unblock.probationDays * 86_400_000).toISOString();
  const after: Restriction = { ...before, state: 'probation', reason, source: by, since: now.toISOString(), expiresAt };
  await ctx.routing.publish([{ dataset: 'restrictions', op: 'upsert', key: restrictionKey(tenant), value: after }]);
  // interim (issue 14): the routing datasets are still in Redis on this branch; the audit row follows the change.
  await ctx.audit.append({ at: after.since, actor: by, action: 'restriction.probation', target: restrictionKey(tenant), reason, before, after });
  await ctx.jobs.expireEntry({ dataset: 'restrictions', key: restrictionKey(tenant), stamp: after.since }, expiresAt, now);
  return after;
}

export interface UnblockInput {
  lang?: string;
  tenant: string;
  email: string;
  evidence: string;
}

/**
 * The public unblock request: recorded, then confirmed by the emailed challenge before it becomes a ticket. One
 * challenge per address (as counted) and tenant per cool-down; the route counts the rate limits before.
 */
export async function requestUnblock(ctx: Context, input: UnblockInput, now = new Date()): Promise<void> {
  const fresh = await ctx.challenges.startCooldown(countingAddress(input.email), `tenant:${input.tenant}`, ctx.policy.challenge.resendCooldownSeconds);
  if (!fresh) return;
  const request: PortalRequest = {
    id: newId(), type: 'unblock', state: 'awaiting_confirmation', email: input.email, ip: '', tenant: input.tenant, comment: input.evidence,
    createdAt: now.toISOString(), updatedAt: now.toISOString(), challengeId: newId(16), ...(input.lang && { lang: input.lang }),
  };
  const tx = ctx.redis.multi();
  ctx.requests.createIn(tx, request, 'Unblock request received; a confirmation link was sent by email.');
  ctx.challenges.createIn(tx, request.challengeId, request.id, ctx.policy.challenge.ttlMinutes, now);
  outboxIn(tx, ctx.keys.jobOutbox, ctx.jobs.mailIntent('unblock-challenge', request.id)); // no request without its mail
  await tx.exec();
}

export async function viewUnblockConfirmation(ctx: Context, token: string, now = new Date()): Promise<PortalRequest> {
  const check = await ctx.challenges.check(token, now);
  const request = 'requestId' in check ? await ctx.requests.get(check.requestId) : null;
  if (!request || request.type !== 'unblock') throw new NotFoundError('This confirmation link is not valid. Check that you copied the whole link from the email.');
  if (check.status === 'used') throw new GoneError('LINK_USED', 'This confirmation link has already been used. Follow your request on its status page.', { statusId: request.id });
  if (check.status === 'expired') throw new GoneError('LINK_EXPIRED', 'This confirmation link has expired. Please send the request again.', {});
  return request;
}

/**
 * Confirmed: the challenge is used up and the request becomes a ticket for staff (needs_review) in one
 * transaction, so a used link always has its ticket, whatever crashes.
 */
export async function confirmUnblock(ctx: Context, token: string, now = new Date()): Promise<string> {
  const request = await viewUnblockConfirmation(ctx, token, now);
  const restriction = await getRestriction(ctx, request.tenant!);
  // interim (issue 14): the ticket is in PostgreSQL, the challenge and the request still in Redis on this branch. The
  // ticket is opened first (its id derives from the request, so a retried click opens no second one), then the
  // challenge is used up with the request's next step: a used link always has its ticket, whatever crashes.
  const ticket = await ctx.tickets.openIn(
    ctx.db,
    { id: `t-${request.id}`, kind: 'tenant-unblock', requestId: request.id, tenant: request.tenant!, email: request.email, subject: `Unblock tenant ${request.tenant}`, reason: `${restriction ? `restriction: ${restriction.state} since ${restriction.since}` : 'the tenant has no restriction on record'}; ${await registeredDomainsNote(ctx, request.tenant!)}` },
    now,
  );
  const used = await ctx.challenges.consumeWith(
    token,
    (tx) => ctx.requests.transitionIn(tx, request.id, 'needs_review', 'Email address confirmed; our support staff will review the request.', { ticketId: ticket.id }, now),
    now,
  );
  if (used.status !== 'valid') throw new GoneError('LINK_USED', 'This confirmation link has already been used.', { statusId: request.id });
  return request.id;
}
