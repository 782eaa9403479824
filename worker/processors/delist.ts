import type { Context } from '../../src/context.js';
import { decideDelist } from '../../src/domain/delist-policy.js';
import { networkOf, parseAddress } from '../../src/domain/ip.js';
import { planSelfDelist, SELF_SERVICE } from '../../src/domain/listing.js';
import { FINAL_STATES } from '../../src/stores/requests.js';
import type { DelistJob } from '../../src/jobs/contract.js';
import { execOrThrow } from '../../src/redis/connection.js';

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
 * self-delist count and the request's final state commit in one transaction, and a rerun of a finished request
 * only makes sure the result mail is queued.
 */
export async function processDelist(ctx: Context, job: DelistJob, now = new Date()): Promise<string> {
  const request = await ctx.requests.get(job.requestId);
  if (!request) throw new PermanentJobError(`request ${job.requestId} does not exist`);
  if (FINAL_STATES.includes(request.state)) {
    await ctx.jobs.sendMail('delist-result', request.id, request.state);
    return request.state;
  }

  const addr = parseAddress(request.ip);
  const windowStart = new Date(now.getTime() - ctx.policy.selfDelist.windowDays * DAY_MS);
  const [verdict, used] = await Promise.all([ctx.blocklist.lookup(addr, now), ctx.blocklist.selfDelistsSince(addr.text, windowStart)]);
  const decision = decideDelist(ctx.policy, verdict, used, ctx.isOwnAddress(addr));

  if (decision.outcome === 'delisted') {
    const changes = planSelfDelist(networkOf(addr, addr.version === 4 ? 32 : 128), verdict, {
      reason: `self-delisted (request ${request.id})`,
      source: SELF_SERVICE,
      now,
    })!;
    const listingCidr = verdict.listing!.cidr;
    await ctx.blocklist.apply(
      changes,
      [{ cidr: listingCidr, event: { at: now.toISOString(), action: 'self-delisted', by: `request ${request.id}`, detail: changes.some((c) => c.dataset === 'exclusions') ? `exclusion ${addr.text} added` : 'listing removed' } }],
      (tx) => {
        ctx.blocklist.recordSelfDelistIn(tx, addr.text, request.id, now);
        ctx.requests.transitionIn(tx, request.id, 'delisted', decision.reason, reasonFields(decision), now);
      },
    );
    // interim (issue 14): the list and the request are still in Redis on this branch; the audit row follows them.
    await ctx.audit.append({ at: now.toISOString(), actor: 'automation:delist', action: 'delist.delisted', target: addr.text, reason: decision.reason, before: verdict.listing, after: changes });
  } else {
    let ticketId: string | undefined;
    if (decision.outcome === 'needs_review') {
      // interim (issue 14): the ticket is in PostgreSQL, the request still in Redis on this branch. The ticket comes
      // first (its id derives from the request: a retried job opens no second one), so the request never points at
      // a ticket that is not there.
      ticketId = (
        await ctx.tickets.openIn(
          ctx.db,
          { id: `t-${request.id}`, kind: 'delist-review', requestId: request.id, subject: `Delist review for ${addr.text}`, reason: decision.reason, ip: addr.text, email: request.email, ...(verdict.listing && { category: verdict.listing.category }) },
          now,
        )
      ).id;
    }
    const tx = ctx.redis.multi();
    ctx.requests.transitionIn(tx, request.id, decision.outcome, decision.reason, { ...reasonFields(decision), ...(ticketId && { ticketId }) }, now);
    await execOrThrow(tx);
    // interim (issue 14): the request is still in Redis on this branch; the audit row follows its change.
    await ctx.audit.append({ at: now.toISOString(), actor: 'automation:delist', action: `delist.${decision.outcome}`, target: addr.text, reason: decision.reason, ...(ticketId && { after: { ticketId } }) });
  }
  await ctx.jobs.sendMail('delist-result', request.id, decision.outcome);
  ctx.logger.info({ requestId: request.id, outcome: decision.outcome }, 'delist decided');
  return decision.outcome;
}
