import type { Context } from '../../src/context.js';
import type { MailKind, SendMailJob } from '../../src/jobs/contract.js';
import type { Mailer } from '../../src/mail/mailer.js';
import { renderMail } from '../../src/mail/render.js';
import { replyAddressFor } from '../../src/domain/reply-address.js';
import { keyedText, localParams, STATE_LABELS } from '../../src/features/status/labels.js';
import { isLanguage, translator, withLang } from '../../src/i18n/index.js';
import type { PortalRequest } from '../../src/stores/requests.js';
import { PermanentJobError } from './delist.js';

type Data = Record<string, unknown>;

/** Each kind of mail: its template and the data it needs from the request. Challenge tokens are derived here. */
const MAILS: Record<MailKind, (ctx: Context, r: PortalRequest, job: SendMailJob) => Data | Promise<Data>> = {
  // The challenge was made with the request; its link's token derives from the challenge id.
  'delist-challenge': (ctx, r) => ({
    ttlMinutes: ctx.policy.challenge.ttlMinutes,
    confirmUrl: withLang(`${ctx.config.publicUrl}/delist/confirm/${ctx.challenges.tokenFor(r.challengeId)}`, r.lang),
  }),
  'delist-result': (ctx, r) => outcome(ctx, r),
  // The address has not confirmed yet: the mail carries our own fixed text and the link only, nothing from the
  // sample (its subject, sender or links would let anyone send their text to any address from our domain).
  'report-challenge': (ctx, r) => ({
    ttlMinutes: ctx.policy.challenge.ttlMinutes,
    confirmUrl: withLang(`${ctx.config.publicUrl}/report/confirm/${ctx.challenges.tokenFor(r.challengeId)}`, r.lang),
  }),
  'report-ack': (ctx, r) => outcome(ctx, r),
  // The same for an unblock request: the tenant id is the requester's text (any 64 letters, dots and dashes), so it
  // is not in the mail; the confirm page the link opens shows it.
  'unblock-challenge': (ctx, r) => ({
    ttlMinutes: ctx.policy.challenge.ttlMinutes,
    confirmUrl: withLang(`${ctx.config.publicUrl}/unblock/confirm/${ctx.challenges.tokenFor(r.challengeId)}`, r.lang),
  }),
  'staff-reply': async (ctx, r, job) => {
    const reply = r.ticketId && job.ref ? await ctx.tickets.reply(r.ticketId, job.ref) : null;
    if (!reply) throw new PermanentJobError(`reply ${job.ref} not found on ticket ${r.ticketId}`);
    // Our own wording (a staff action's reply, a reply text staff picked) in the request's language; a staff member's own words as written.
    const ours = reply.key ? keyedText(translator(languageOf(r)), reply.key, reply.params) : '';
    return { update: reply.template ?? 'update', text: ours || reply.message, statusUrl: statusUrl(ctx, r), kind: r.type };
  },
  // Staff closed the ticket behind the request (with or without action, one or in bulk): the outcome and its reason.
  'request-closed': (ctx, r) => ({ ...outcome(ctx, r), kind: r.type, contactUrl: withLang(`${ctx.config.publicUrl}/contact?request=${r.id}`, r.lang) }),
};

const languageOf = (r: PortalRequest) => (isLanguage(r.lang) ? r.lang : 'en');

/** The request's status page, in the request's language (the visitor's switcher still changes it). */
const statusUrl = (ctx: Context, r: PortalRequest) => withLang(`${ctx.config.publicUrl}/status/${r.id}`, r.lang);

/** Mails about a ticket carry its reply address, so that an answer by mail comes back into the ticket (a delist result only once the request has a review ticket). */
const ABOUT_A_TICKET: readonly MailKind[] = ['staff-reply', 'request-closed', 'delist-result'];

/** A request's outcome: English label and reason as stored (used when it has no message key), plus the state and reason key the templates translate in every language. */
function outcome(ctx: Context, r: PortalRequest): Data {
  return {
    state: r.state,
    stateLabel: STATE_LABELS[r.state].label,
    reason: r.reason ?? STATE_LABELS[r.state].next,
    hasReason: Boolean(r.reason),
    reasonCode: r.reasonCode ?? '',
    // Only the parameters a public answer may show: never another report's or a case's id (issue 13).
    // A category by its name, a picked reply text in the request's language.
    reasonParams: localParams(translator(languageOf(r)), r.reasonParams),
    statusUrl: statusUrl(ctx, r),
  };
}

/** Renders and sends one mail about a request; the job carries only the kind and the request id. */
export async function processSendMail(ctx: Context, mailer: Mailer, job: SendMailJob): Promise<void> {
  const request = await ctx.requests.get(job.requestId);
  if (!request) throw new PermanentJobError(`request ${job.requestId} does not exist`);
  if (!request.email) throw new PermanentJobError(`request ${job.requestId} has no email address to write to`);
  if (job.kind.endsWith('-challenge') && !request.challengeId) throw new PermanentJobError(`request ${job.requestId} has no challenge`);
  const data = { ip: request.ip, publicUrl: ctx.config.publicUrl, operator: ctx.config.operator, ...(await MAILS[job.kind](ctx, request, job)) };
  const mail = await renderMail(job.kind, request.email, data, request.lang);
  const replyTo = ABOUT_A_TICKET.includes(job.kind) && request.ticketId ? replyAddressFor({ secret: ctx.config.secret, domain: ctx.config.replyDomain }, request.ticketId) : null;
  await mailer.send(replyTo ? { ...mail, replyTo } : mail);
}
