import type { Context } from '../../context.js';
import { parsePool } from '../../parse/pool.js';
import { NotFoundError } from '../../errors.js';
import type { Ticket } from '../../stores/tickets.js';

/** Most characters of an answer's new text kept on the ticket's timeline. */
export const MAX_ANSWER_CHARS = 5000;

export interface AnswerOrigin {
  clientIp: string;
  mailFrom: string;
}

/** The addresses a ticket's answers are expected from: the ticket's email and its requests'. */
async function requesterAddresses(ctx: Context, ticket: Ticket): Promise<Set<string>> {
  const ids = ticket.requestId ? [ticket.requestId] : (await ctx.tickets.reports(ticket.id)).slice(0, 200);
  const requests = await Promise.all(ids.map((id) => ctx.requests.get(id)));
  return new Set([ticket.email, ...requests.map((r) => r?.email)].filter((e): e is string => !!e).map((e) => e.toLowerCase()));
}

/**
 * A requester's answer by mail to a ticket's reply address (the SMTP intake received it; the address's code was
 * checked there): read on the parser pool with postal-mime (bounded, within the parse budget, the quoted history
 * cut), then written to the ticket's timeline as a `requester` event. A closed ticket is opened again with a new
 * due time, so the answer is in the staff's queue; an abuse case only while its tenant has no newer open case (one
 * open case per tenant), else the answer stays on the closed case's timeline and a note goes to the open one. An
 * automatic reply (RFC 3834, or sent by the null sender) is kept but reopens nothing.
 */
export async function fileMailAnswer(ctx: Context, ticketId: string, raw: Uint8Array, origin: AnswerOrigin, now = new Date()): Promise<{ ticketId: string; reopened: boolean }> {
  const answer = await parsePool().readAnswer(raw, MAX_ANSWER_CHARS, ctx.policy.samples.parseBudgetMs);
  // Read after the parse: as it is now, not when the mail began. A case merged into another answers there.
  const first = await ctx.tickets.get(ticketId);
  const mergedInto = first?.state === 'closed' ? /^merged into ([A-Za-z0-9_-]{1,80})$/.exec(first.resolution ?? '')?.[1] : undefined;
  const ticket = mergedInto ? ((await ctx.tickets.get(mergedInto)) ?? first) : first;
  if (!ticket) throw new NotFoundError('There is no such ticket.');
  const from = answer.from || origin.mailFrom || 'unknown sender';
  const expected = await requesterAddresses(ctx, ticket);
  const note = expected.has(from.toLowerCase()) ? '' : ' (not an address of this ticket\'s requesters)';
  // An automatic reply (an out-of-office, a mail from the null sender) is kept on the timeline but reopens nothing.
  const automatic = answer.automatic || !origin.mailFrom;
  const message = [automatic && '[automatic reply]', answer.subject && `Subject: ${answer.subject}`, answer.text || '(no text)', answer.truncated && `[cut at ${MAX_ANSWER_CHARS} characters]`].filter(Boolean).join('\n\n');
  const at = now.toISOString();
  let reopen = false;
  await ctx.db.transaction().execute(async (trx) => {
    const newerCase = ticket.state === 'closed' && ticket.caseKey ? await ctx.tickets.openCaseIdIn(trx, ticket.caseKey) : null;
    reopen = ticket.state === 'closed' && !newerCase && !automatic;
    if (newerCase) await ctx.tickets.addEventIn(trx, newerCase, { at, actor: 'automation', message: `a reporter answered by mail on the closed case ${ticket.id}`, type: 'system' });
    await ctx.tickets.addEventIn(trx, ticket.id, { at, actor: `${from}${note}`.slice(0, 320), message, type: 'requester' });
    if (reopen) {
      const due = new Date(now.getTime() + ctx.tickets.slaHours(ticket.kind, ticket.severity) * 3_600_000).toISOString();
      await ctx.tickets.updateIn(trx, ticket, { state: 'open', slaDueAt: due }, now);
      await ctx.tickets.addEventIn(trx, ticket.id, { at, actor: 'automation', message: 'reopened: the requester answered by mail', type: 'system' });
      // The request closed without action waits for staff again: its status page says so (and that they answer by mail).
      const request = ticket.requestId ? await ctx.requests.get(ticket.requestId) : null;
      if (request?.state === 'closed') await ctx.requests.transitionIn(trx, request.id, 'needs_review', 'Answer received by mail; our support staff will answer by email.', { reason: '', reasonCode: '' }, now);
    }
    await ctx.audit.appendIn(trx, { at, actor: from.slice(0, 254), action: 'ticket.answer', target: ticket.id, reason: `answer by mail from ${origin.clientIp}${reopen ? '; ticket reopened' : ''}` });
  });
  return { ticketId: ticket.id, reopened: reopen };
}
