import type { Context } from '../../context.js';
import { parseAddress } from '../../domain/ip.js';
import { selfDelistsLeft } from '../../domain/delist-policy.js';
import type { Verdict } from '../../domain/listing.js';
import { countingAddress } from '../../domain/email-address.js';
import { GoneError, NotFoundError } from '../../errors.js';
import { newId, type PortalRequest } from '../../stores/requests.js';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Step 1 of the public flow: record the request and mail a challenge. The caller answers the same neutral page
 * whatever happens here, so nothing reveals whether the IP is listed. The route counted the rate limits before.
 *
 * Unless a challenge went to this email (as counted) and IP within the resend cool-down, one transaction writes the
 * request, its first event, its challenge and its challenge mail's job (the job outbox): all or nothing.
 */
export async function requestDelist(ctx: Context, input: { email: string; ip: string; lang?: string }, now = new Date()): Promise<void> {
  const at = now.toISOString();
  const request: PortalRequest = {
    id: newId(),
    type: 'delist',
    state: 'awaiting_confirmation',
    email: input.email,
    ip: input.ip,
    createdAt: at,
    updatedAt: at,
    challengeId: newId(16),
    ...(input.lang && { lang: input.lang }),
  };
  const challenge = { id: request.challengeId, tokenHash: ctx.challenges.tokenHashFor(request.challengeId), expiresAt: new Date(now.getTime() + ctx.policy.challenge.ttlMinutes * 60_000) };
  // Within the cool-down of an earlier challenge to this address for this IP, nothing is stored or mailed (no mail bombing).
  const stored = await ctx.challenges.underCooldown(countingAddress(input.email), input.ip, ctx.policy.challenge.resendCooldownSeconds, () =>
    ctx.requests.createWithChallengeAndJob(ctx.db, request, 'Request received; a confirmation link was sent by email.', challenge, ctx.jobs.mailIntent('delist-challenge', request.id)),
  );
  if (stored) ctx.logger.info({ requestId: request.id }, 'delist requested');
}

export interface ConfirmView {
  request: PortalRequest;
  verdict: Verdict;
  selfDelistsLeft: number;
  selfRemovable: boolean;
  categoryReason: string | undefined;
  expiresAt: string;
}

/** The confirm page: why the IP is listed, since when, and how many self-delists are left. Uses nothing up. */
export async function viewConfirmation(ctx: Context, token: string, now = new Date()): Promise<ConfirmView> {
  const check = await ctx.challenges.check(token, now);
  const request = await requestBehind(ctx, check);
  if (check.status !== 'valid' || !request) throw unusable(check.status, request);
  const addr = parseAddress(request.ip);
  const [verdict, used] = await Promise.all([
    ctx.blocklist.lookup(addr, now),
    ctx.blocklist.selfDelistsSince(request.ip, new Date(now.getTime() - ctx.policy.selfDelist.windowDays * DAY_MS)),
  ]);
  const category = verdict.listing ? ctx.policy.categories[verdict.listing.category] : undefined;
  return {
    request,
    verdict,
    selfDelistsLeft: selfDelistsLeft(ctx.policy, used),
    selfRemovable: (verdict.covering ?? []).every((e) => ctx.policy.categories[e.category]?.selfRemovable === true),
    categoryReason: category?.reason,
    expiresAt: check.expiresAt,
  };
}

/**
 * "Delist IP" pressed: use the challenge up, move the request to queued and write its job to the job outbox, in
 * one transaction (no confirmed request without its job, whatever crashes); returns the request id for the status page.
 */
export async function confirmDelist(ctx: Context, token: string, now = new Date()): Promise<string> {
  const check = await ctx.challenges.check(token, now);
  const request = await requestBehind(ctx, check);
  if (check.status !== 'valid' || !request) throw unusable(check.status, request);
  const used = await ctx.challenges.use(
    token,
    async (trx, requestId) => {
      await ctx.requests.transitionIn(trx, requestId, 'queued', 'Email address confirmed; the request is queued.', {}, now);
      await ctx.jobs.addIn(trx, ctx.jobs.delistIntent(requestId));
    },
    now,
  );
  if (used.status !== 'valid') throw unusable(used.status, await requestBehind(ctx, used));
  return check.requestId;
}

/**
 * The delist request a challenge belongs to. Every flow's challenges share one table, so a report's or an unblock
 * request's link opened under /delist/confirm/ finds its request but is not valid here: null, as for an unknown token.
 */
async function requestBehind(ctx: Context, check: { status: string; requestId?: string }): Promise<PortalRequest | null> {
  const request = check.requestId ? await ctx.requests.get(check.requestId) : null;
  return request?.type === 'delist' ? request : null;
}

function unusable(status: string, request: PortalRequest | null): Error {
  if (status === 'used' && request) {
    return new GoneError('LINK_USED', 'This confirmation link has already been used. Follow your request on its status page.', { statusId: request.id });
  }
  if (status === 'expired' && request) {
    return new GoneError('LINK_EXPIRED', 'This confirmation link has expired. Please ask for a new one.', { ip: request.ip });
  }
  return new NotFoundError('This confirmation link is not valid. Check that you copied the whole link from the email, or ask for a new one.');
}
