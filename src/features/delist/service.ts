import type { Context } from '../../context.js';
import { parseAddress } from '../../domain/ip.js';
import { selfDelistsLeft } from '../../domain/delist-policy.js';
import type { Verdict } from '../../domain/listing.js';
import { GoneError, NotFoundError } from '../../errors.js';
import { newId, type PortalRequest } from '../../stores/requests.js';

const DAY_MS = 24 * 3600 * 1000;

/**
 * Step 1 of the public flow: record the request and mail a challenge. The caller answers the same neutral
 * page whatever happens here, so nothing reveals whether the IP is listed.
 */
export async function requestDelist(ctx: Context, input: { email: string; ip: string; lang?: string }, now = new Date()): Promise<void> {
  const fresh = await ctx.challenges.startCooldown(input.email, input.ip, ctx.policy.challenge.resendCooldownSeconds);
  if (!fresh) return; // a challenge went out less than a minute ago: do not mail-bomb the address

  const request: PortalRequest = {
    id: newId(),
    type: 'delist',
    state: 'awaiting_confirmation',
    email: input.email,
    ip: input.ip,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    challengeId: newId(16),
    ...(input.lang && { lang: input.lang }),
  };
  const tx = ctx.redis.multi();
  ctx.requests.createIn(tx, request, 'Request received; a confirmation link was sent by email.');
  ctx.challenges.createIn(tx, request.challengeId, request.id, ctx.policy.challenge.ttlMinutes, now);
  await tx.exec();
  await ctx.jobs.sendMail('delist-challenge', request.id);
  ctx.logger.info({ requestId: request.id }, 'delist requested');
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

/** "Delist IP" pressed: use the challenge up, queue the job; returns the request id for the status page. */
export async function confirmDelist(ctx: Context, token: string, now = new Date()): Promise<string> {
  const check = await ctx.challenges.consume(token, now);
  if (check.status !== 'valid') throw unusable(check.status, await requestBehind(ctx, check));
  await ctx.requests.transition(check.requestId, 'queued', 'Email address confirmed; the request is queued.');
  await ctx.jobs.delist(check.requestId);
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
