import type { Kysely } from 'kysely';
import type { Context } from '../../context.js';
import { inTransaction } from '../../db/connection.js';
import type { Database } from '../../db/schema.js';
import type { Restriction } from '../../domain/datasets.js';
import { countingAddress } from '../../domain/email-address.js';
import { ConflictError, GoneError, NotFoundError, ValidationError } from '../../errors.js';
import { tenantId } from '../pools/service.js';
import { registeredDomainsNote } from '../tenants/service.js';
import { newId, type PortalRequest } from '../../stores/requests.js';
import { restrictionKey } from '../../stores/restrictions.js';

export async function getRestriction(ctx: Context, tenant: string): Promise<Restriction | null> {
  return ctx.restrictions.get(tenant);
}

/** Blocks a tenant from sending from unregistered domains (550 5.7.750), through the publisher, audited. */
export async function restrictTenant(ctx: Context, tenant: string, reason: string, by: string, now = new Date()): Promise<Restriction> {
  if (!tenantId.safeParse(tenant).success) throw new ValidationError(`"${tenant}" is not a valid tenant id.`, { tenant: 'invalid' });
  const after: Restriction = { tenant, restriction: 'unregistered-domains', state: 'blocked', reason, source: by, since: now.toISOString(), expiresAt: null };
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.restrictions.get(tenant, trx);
    await ctx.routing.publishIn(trx, [{ dataset: 'restrictions', op: 'upsert', key: restrictionKey(tenant), value: after }], now);
    await ctx.audit.appendIn(trx, { at: after.since, actor: by, action: 'restriction.block', target: restrictionKey(tenant), reason, before, after });
  });
  return after;
}

/** Lifts the block into probation: the routing engine lets the tenant send again, and the entry expires by itself. */
export async function liftToProbation(ctx: Context, tenant: string, reason: string, by: string, now = new Date(), db: Kysely<Database> = ctx.db): Promise<Restriction> {
  const expiresAt = new Date(now.getTime() + ctx.policy.unblock.probationDays * 86_400_000).toISOString();
  const after = await inTransaction(db, async (trx) => {
    await ctx.routing.lockIn(trx);
    const before = await ctx.restrictions.get(tenant, trx);
    if (!before) throw new ConflictError('NOT_RESTRICTED', `Tenant ${tenant} is not restricted.`);
    const after: Restriction = { ...before, state: 'probation', reason, source: by, since: now.toISOString(), expiresAt };
    await ctx.routing.publishIn(trx, [{ dataset: 'restrictions', op: 'upsert', key: restrictionKey(tenant), value: after }], now);
    await ctx.audit.appendIn(trx, { at: after.since, actor: by, action: 'restriction.probation', target: restrictionKey(tenant), reason, before, after });
    await ctx.jobs.expireEntryIn(trx, { dataset: 'restrictions', key: restrictionKey(tenant), stamp: after.since }, expiresAt);
    return after;
  });
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
  const request: PortalRequest = {
    id: newId(), type: 'unblock', state: 'awaiting_confirmation', email: input.email, ip: '', tenant: input.tenant, comment: input.evidence,
    createdAt: now.toISOString(), updatedAt: now.toISOString(), challengeId: newId(16), ...(input.lang && { lang: input.lang }),
  };
  await ctx.challenges.underCooldown(countingAddress(input.email), `tenant:${input.tenant}`, ctx.policy.challenge.resendCooldownSeconds, () =>
    ctx.db.transaction().execute(async (trx) => {
      await ctx.requests.createIn(trx, request, 'Unblock request received; a confirmation link was sent by email.');
      await ctx.challenges.createIn(trx, request.challengeId, request.id, ctx.policy.challenge.ttlMinutes, now);
      await ctx.jobs.sendMailIn(trx, 'unblock-challenge', request.id); // no request without its mail
    }),
  );
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
 * Confirmed: the challenge is used up and the request moves to needs_review in one transaction, then it becomes a
 * ticket for staff.
 */
export async function confirmUnblock(ctx: Context, token: string, now = new Date()): Promise<string> {
  const request = await viewUnblockConfirmation(ctx, token, now);
  const restriction = await getRestriction(ctx, request.tenant!);
  const directoryNote = await registeredDomainsNote(ctx, request.tenant!);
  // The challenge is used up, the request moves on and its ticket opens in one transaction (the ticket's id derives
  // from the request, so a second open is the same ticket).
  const used = await ctx.challenges.use(
    token,
    async (trx) => {
      const ticket = await ctx.tickets.openIn(
        trx,
        { id: `t-${request.id}`, kind: 'tenant-unblock', requestId: request.id, tenant: request.tenant!, email: request.email, subject: `Unblock tenant ${request.tenant}`, reason: `${restriction ? `restriction: ${restriction.state} since ${restriction.since}` : 'the tenant has no restriction on record'}; ${directoryNote}` },
        now,
      );
      await ctx.requests.transitionIn(trx, request.id, 'needs_review', 'Email address confirmed; our support staff will review the request.', { ticketId: ticket.id }, now);
    },
    now,
  );
  if (used.status !== 'valid') throw new GoneError('LINK_USED', 'This confirmation link has already been used.', { statusId: request.id });
  return request.id;
}
