import type { Context } from '../../context.js';
import { parseAddress } from '../../domain/ip.js';
import { selfDelistsLeft } from '../../domain/delist-policy.js';
import type { Verdict } from '../../domain/listing.js';
import { GoneError, NotFoundError, RateLimitedError } from '../../errors.js';
import { challengeHits, hit } from '../../http/rate-limit.js';
import type { Hit } from '../../stores/delist-intake.js';
import { intentFields } from '../../jobs/outbox.js';
import { newId, type PortalRequest, type RequestEvent } from '../../stores/requests.js';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Step 1 of the public flow: record the request and mail a challenge. The caller answers the same neutral
 * page whatever happens here, so nothing reveals whether the IP is listed.
 *
 * With `client` (the rate-limit key of the sender's address, from the web form), the three public rate limits
 * are counted in the same Redis script that creates the request: per client, per email, per target IP.
 */
export async function requestDelist(ctx: Context, input: { email: string; ip: string; lang?: string }, now = new Date(), client?: string): Promise<void> {
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
  };
  if (input.lang) request.lang = input.lang;
  const event: RequestEvent = { at, state: request.state, message: 'Request received; a confirmation link was sent by email.' };
  const hits = client === undefined ? [] : delistHits(ctx, client, input);
  const outcome = await ctx.delistIntake.submit(hits, request, event, now.getTime(), ctx.jobs.mailIntent('delist-challenge', request.id));
  if (outcome.status === 'limited') throw rateLimited(outcome.resetMs);
  if (outcome.status === 'cooldown') return; // a challenge went out less than a minute ago: do not mail-bomb the address
  // The challenge mail's job went to the job outbox with the request; the worker's relay queues it (jobs/outbox.ts).
  ctx.logger.info({ requestId: request.id }, 'delist requested');
}

/** A delist form that did not validate still counts against its sender (throws RateLimitedError when over). */
export async function countInvalidDelist(ctx: Context, client: string): Promise<void> {
  const outcome = await ctx.delistIntake.count(delistHits(ctx, client));
  if (outcome.status === 'limited') throw rateLimited(outcome.resetMs);
}

const rateLimited = (resetMs: number) => new RateLimitedError(Math.max(1, Math.ceil(resetMs / 1000)));

/**
 * The public limits of the delist form, in the order they are counted (same keys as the other limiters): per
 * client, then (for a form that validated) per email, per target IP, and the caps per recipient and recipient
 * domain that all challenge mails share; the email limits count the address as normalised (challengeHits).
 */
function delistHits(ctx: Context, client: string, input?: { email: string; ip: string }): Hit[] {
  const limits = ctx.policy.rateLimits;
  const hits = [hit(ctx.keys, 'delist-client', client, limits.delistPerClientIp)];
  if (input) {
    const [perEmail, ...shared] = challengeHits(ctx.keys, limits, 'delist-email', limits.delistPerEmail, input.email);
    hits.push(perEmail!, hit(ctx.keys, 'delist-target', input.ip, limits.delistPerTargetIp), ...shared);
  }
  return hits;
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
 * one script (no confirmed request without its job, whatever crashes); returns the request id for the status page.
 */
export async function confirmDelist(ctx: Context, token: string, now = new Date()): Promise<string> {
  const check = await ctx.challenges.check(token, now);
  if (check.status !== 'valid') throw unusable(check.status, await requestBehind(ctx, check));
  const used = await ctx.challenges.consumeAndQueue(token, check.requestId, 'queued', 'Email address confirmed; the request is queued.', intentFields(ctx.jobs.delistIntent(check.requestId)), now);
  if (used.status !== 'valid') throw unusable(used.status, await requestBehind(ctx, used));
  return check.requestId;
}

async function requestBehind(ctx: Context, check: { status: string; requestId?: string }): Promise<PortalRequest | null> {
  return check.requestId ? ctx.requests.get(check.requestId) : null;
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
