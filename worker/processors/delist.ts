import type { Context } from '../../src/context.js';
import { decideDelist } from '../../src/domain/delist-policy.js';
import { networkOf, parseAddress } from '../../src/domain/ip.js';
import { planSelfDelist, SELF_SERVICE } from '../../src/domain/listing.js';
import { FINAL_STATES } from '../../src/stores/requests.js';
import type { DelistJob } from '../../src/jobs/contract.js';

const DAY_MS = 24 * 3600 * 1000;

/** The request fields that carry a decision's reason, in English and as a message key. */
export const reasonFields = (d: { reason: string; code: string; params?: Record<string, string | number> }) => ({
  reason: d.reason,
  reasonCode: d.code,
  ...(d.params && { reasonParams: JSON.stringify(d.params) }),
});

export class PermanentJobError extends Error {
  readonly code = 'JOB_PERMANENT';
}

/**
 * Applies the delist policy to one confirmed request. Idempotent: the decision, its effect on the list, the
 * self-delist count, the review ticket, the audit row, the request's final state and its result mail commit in one
 * PostgreSQL transaction, under the publisher's lock (the verdict and the budget are the ones at commit); a rerun of
 * a finished request only makes sure the result mail is queued.
 */
export async function processDelist(ctx: Context, job: DelistJob, now = new Date()): Promise<string> {
  const request = await ctx.requests.get(job.requestId);
  if (!request) throw new PermanentJobError(`request ${job.requestId} does not exist`);
  if (request.type !== 'delist') throw new PermanentJobError(`request ${job.requestId} is a ${request.type} request, not a delist request`);
  if (FINAL_STATES.includes(request.state)) {
    await ctx.jobs.sendMail('delist-result', request.id, request.state);
    return request.state;
  }

  const addr = parseAddress(request.ip);
  const windowStart = new Date(now.getTime() - ctx.policy.selfDelist.windowDays * DAY_MS);
  const outcome = await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    // Another run of this job may have committed while this one waited for the lock.
    const current = await ctx.requests.get(request.id, trx);
    if (current && FINAL_STATES.includes(current.state)) {
      await ctx.jobs.sendMailIn(trx, 'delist-result', request.id, current.state);
      return current.state;
    }
    const verdict = await ctx.blocklist.lookup(addr, now, trx);
    const used = await ctx.blocklist.selfDelistsSince(addr.text, windowStart, trx);
    const decision = decideDelist(ctx.policy, verdict, used, ctx.isOwnAddress(addr));
    let changes = null;
    let ticketId: string | undefined;
    if (decision.outcome === 'delisted') {
      changes = planSelfDelist(networkOf(addr, addr.version === 4 ? 32 : 128), verdict, { reason: `self-delisted (request ${request.id})`, source: SELF_SERVICE, now })!;
      await ctx.blocklist.applyIn(
        trx,
        changes,
        [{ cidr: verdict.listing!.cidr, event: { at: now.toISOString(), action: 'self-delisted', by: `request ${request.id}`, detail: changes.some((c) => c.dataset === 'exclusions') ? `exclusion ${addr.text} added` : 'listing removed', requestId: request.id } }],
        now,
      );
      await ctx.blocklist.recordSelfDelistIn(trx, addr.text, request.id, now);
    } else if (decision.outcome === 'needs_review') {
      ticketId = (
        await ctx.tickets.openIn(
          trx,
          { id: `t-${request.id}`, kind: 'delist-review', requestId: request.id, subject: `Delist review for ${addr.text}`, reason: decision.reason, ip: addr.text, email: request.email, ...(verdict.listing && { category: verdict.listing.category }) },
          now,
        )
      ).id;
    }
    await ctx.audit.appendIn(trx, {
      at: now.toISOString(),
      actor: 'automation:delist',
      action: `delist.${decision.outcome}`,
      target: addr.text,
      reason: decision.reason,
      ...(decision.outcome === 'delisted' ? { before: verdict.listing, after: changes } : ticketId && { after: { ticketId } }),
    });
    await ctx.requests.transitionIn(trx, request.id, decision.outcome, decision.reason, { ...reasonFields(decision), ...(ticketId && { ticketId }) }, now);
    await ctx.jobs.sendMailIn(trx, 'delist-result', request.id, decision.outcome);
    return decision.outcome;
  });
  ctx.logger.info({ requestId: request.id, outcome }, 'delist decided');
  return outcome;
}
