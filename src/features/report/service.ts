import type { Context } from '../../context.js';
import { NotOurMailError, SampleError, type SampleSummary } from '../../domain/samples.js';
import { AppError, GoneError, NotFoundError, PayloadTooLargeError, UnavailableError, ValidationError } from '../../errors.js';
import { ParseBudgetError, ParsePoolBusyError, parsePool } from '../../parse/pool.js';
import { newId, type PortalRequest } from '../../stores/requests.js';
import { reporterByTransport, type ReportOrigin } from '../../domain/report-trust.js';

/**
 * What we show and keep of a parsed sample: all of it but the ARF field block (its feedbackType stays), with the
 * path cut to the hops that matter and every text bounded (summarizeSample), so a request record stays small.
 */
export type ReportSummary = SampleSummary;

const DRAFT_TTL_SECONDS = 3600;

/** The parsed fields machine clients get back (DESIGN: 202 {id, statusUrl, parsed}). */
export const apiFields = (s: ReportSummary) => ({ sourceIp: s.sourceIp, tenant: s.tenant, mailFrom: s.mailFrom, from: s.from, messageId: s.messageId, feedbackType: s.feedbackType, reportedDomain: s.reportedDomain, format: s.format });

/**
 * Parses a sample at the edge, on a thread of the parser pool (src/parse/pool.ts) within the policy's time budget,
 * never on this event loop: a bad one is refused with a 4xx before anything is stored. Refusals: 413 too large,
 * 400 not a message (BINARY, NOT_A_MESSAGE, TOO_DEEP), 422 NotOurMail, 422 SampleTooComplex (over a bound of the
 * policy's samples section, or over the parse budget); 503 when too many samples wait for the pool.
 */
export async function understand(ctx: Context, raw: Buffer): Promise<ReportSummary> {
  const samples = ctx.policy.samples;
  try {
    if (raw.length > samples.maxBytes) throw new SampleError('TOO_LARGE', `The sample is larger than our limit of ${Math.round((samples.maxBytes / 1048576) * 10) / 10} MB.`);
    return await parsePool().parse(raw, ctx.policy.network, samples, samples.parseBudgetMs);
  } catch (err) {
    if (err instanceof NotOurMailError) throw new AppError(422, 'NotOurMail', err.message, { hops: err.hops.map((h) => ({ index: h.index, fromIp: h.fromIp, fromHost: h.fromHost, byHost: h.byHost })) });
    if (err instanceof SampleError && err.code === 'TOO_COMPLEX') throw new AppError(422, 'SampleTooComplex', err.message, { sample: err.code });
    if (err instanceof SampleError) throw err.code === 'TOO_LARGE' ? new PayloadTooLargeError(err.message) : new ValidationError(err.message, { sample: err.code });
    if (err instanceof ParseBudgetError) throw new AppError(422, 'SampleTooComplex', err.message, { sample: 'TOO_COMPLEX', budgetMs: samples.parseBudgetMs });
    if (err instanceof ParsePoolBusyError) throw new UnavailableError('Too many reports are being read right now. Please try again in a minute.');
    throw err;
  }
}

export interface DraftInput {
  lang?: string;
  email: string;
  category: string;
  comment: string;
  sample: Buffer;
}

/** Step 1 of the web flow: keep the parsed sample for an hour so the reporter can look at the preview. */
export async function createDraft(ctx: Context, input: DraftInput): Promise<string> {
  const summary = await understand(ctx, input.sample);
  const id = newId();
  await ctx.reportDrafts.create({ id, email: input.email, category: input.category, comment: input.comment, lang: input.lang ?? 'en', summary: { ...summary } }, input.sample, DRAFT_TTL_SECONDS);
  return id;
}

export interface Draft {
  id: string;
  lang: string;
  email: string;
  category: string;
  comment: string;
  summary: ReportSummary;
}

export async function getDraft(ctx: Context, id: string): Promise<Draft> {
  if (!/^[A-Za-z0-9_-]{16}$/.test(id)) throw new NotFoundError('This preview does not exist.');
  const draft = await ctx.reportDrafts.get(id);
  if (!draft) throw new GoneError('DRAFT_GONE', 'This preview has expired (previews are kept for an hour). Please submit the message again.');
  return { ...draft, summary: draft.summary as unknown as ReportSummary };
}

/** Step 2: the reporter confirmed the preview; the draft becomes a request and a challenge mail goes out. */
export async function submitDraft(ctx: Context, draftId: string, now = new Date()): Promise<void> {
  const draft = await getDraft(ctx, draftId);
  const request = { ...reportRequest(draft.summary, { email: draft.email, channel: 'web', reporter: draft.email, category: draft.category, comment: draft.comment, state: 'awaiting_confirmation' }, now), lang: draft.lang };
  // The draft becomes the request, its evidence, its challenge and its challenge mail's job, all or nothing.
  await ctx.db.transaction().execute(async (trx) => {
    const sample = await ctx.reportDrafts.takeSampleIn(trx, draftId, now);
    if (!sample) throw new GoneError('DRAFT_GONE', 'This preview has expired. Please submit the message again.');
    await ctx.requests.createIn(trx, request, 'Report prepared; a confirmation link was sent by email.');
    await ctx.requests.storeSampleIn(trx, request.id, sample, ctx.policy.samples.retentionDays, now);
    await ctx.challenges.createIn(trx, request.challengeId, request.id, ctx.policy.challenge.ttlMinutes, now);
    await ctx.jobs.sendMailIn(trx, 'report-challenge', request.id);
  });
}

/** The emailed link, read without using it up. */
export async function viewReportConfirmation(ctx: Context, token: string, now = new Date()): Promise<{ request: PortalRequest; summary: ReportSummary }> {
  const check = await ctx.challenges.check(token, now);
  const request = 'requestId' in check ? await ctx.requests.get(check.requestId) : null;
  if (!request || request.type !== 'report') throw new NotFoundError('This confirmation link is not valid. Check that you copied the whole link from the email.');
  if (check.status === 'used') throw new GoneError('LINK_USED', 'This confirmation link has already been used. Follow your report on its status page.', { statusId: request.id });
  if (check.status === 'expired') throw new GoneError('LINK_EXPIRED', 'This confirmation link has expired. Please submit the report again.', {});
  return { request, summary: JSON.parse(request.parsed ?? '{}') as ReportSummary };
}

/**
 * Step 3: the email is verified; the report is queued for the worker, its ingest job written with the state
 * change (through the job outbox). Returns the request id. This is what makes the reporter a "confirmed web
 * reporter": only a confirmed web report reaches the ingest job in state `queued` (src/features/report/trust.ts).
 */
export async function confirmReport(ctx: Context, token: string, now = new Date()): Promise<string> {
  const { request } = await viewReportConfirmation(ctx, token, now);
  const check = await ctx.challenges.use(
    token,
    async (trx, requestId) => {
      await ctx.requests.transitionIn(trx, requestId, 'queued', 'Email address confirmed; the report is queued.', {}, now);
      await ctx.jobs.addIn(trx, ctx.jobs.ingestReportIntent(requestId));
    },
    now,
  );
  if (check.status !== 'valid') throw new GoneError('LINK_USED', 'This confirmation link has already been used.', { statusId: request.id });
  return request.id;
}

/** Who handed a machine report to us (channel, client IP, SMTP user, MAIL FROM, API token name). */
export type { ReportOrigin } from '../../domain/report-trust.js';

/**
 * Machine intake (API and SMTP): parse, keep, queue, in one step. Whether the sender is a configured partner is
 * decided here from the transport alone (SMTP AUTH user, API token name, client IP range) and kept with the
 * report; the worker may still recognise a partner by the report's DKIM signature, and decides the tenant.
 */
export async function submitMachineReport(ctx: Context, raw: Buffer, origin: ReportOrigin, now = new Date()): Promise<{ id: string; summary: ReportSummary }> {
  const channel = origin.channel;
  const reporter = channel === 'api' ? (origin.apiTokenName ?? '?') : `${origin.mailFrom || '<>'} via ${origin.clientIp}${origin.smtpUser ? ` (AUTH ${origin.smtpUser})` : ''}`;
  const summary = await understand(ctx, raw);
  const trust = { reporter: reporterByTransport(ctx.policy.partners, origin) };
  const request = { ...reportRequest(summary, { email: '', channel, reporter, category: summary.feedbackType ?? 'abuse', comment: '', state: 'queued' }, now), origin: JSON.stringify(origin), trust: JSON.stringify(trust) };
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.requests.createIn(trx, request, `Report received by ${channel === 'api' ? 'the API' : 'SMTP'} from ${reporter}; queued.`);
    await ctx.requests.storeSampleIn(trx, request.id, raw, ctx.policy.samples.retentionDays, now);
    await ctx.jobs.addIn(trx, ctx.jobs.ingestReportIntent(request.id));
  });
  return { id: request.id, summary };
}

function reportRequest(summary: ReportSummary, f: { email: string; channel: 'web' | 'api' | 'smtp'; reporter: string; category: string; comment: string; state: 'awaiting_confirmation' | 'queued' }, now: Date): PortalRequest {
  return {
    id: newId(),
    type: 'report',
    state: f.state,
    email: f.email,
    ip: summary.sourceIp,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    challengeId: newId(16),
    channel: f.channel,
    reporter: f.reporter,
    category: f.category,
    comment: f.comment,
    ...(summary.tenant && { tenant: summary.tenant }),
    parsed: JSON.stringify(summary),
  };
}
