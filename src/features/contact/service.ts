import type { Context } from '../../context.js';
import { newId, type PortalRequest } from '../../stores/requests.js';

export interface ContactInput {
  lang?: string;
  email: string;
  name: string;
  message: string;
  /** The id of an earlier request the message is about (from a status page's link), when it is one. */
  about: string;
}

/**
 * A message through the contact form: a request of type `contact` (its status page is the sender's receipt) and a
 * `contact` ticket in the staff queue, in one transaction. Staff answer with the ticket's reply (mailed in the
 * request's language, with the ticket's reply address as Reply-To); closing the ticket tells the sender why.
 * The route counts the rate limits (per client, per address and the mail caps per recipient) before.
 */
export async function sendContactMessage(ctx: Context, input: ContactInput, now = new Date()): Promise<string> {
  const id = newId();
  const ticketId = `c-${id}`;
  const request: PortalRequest = {
    id, type: 'contact', state: 'needs_review', email: input.email, ip: '', comment: input.message, ticketId,
    createdAt: now.toISOString(), updatedAt: now.toISOString(), challengeId: '', ...(input.lang && { lang: input.lang }),
  };
  const about = input.about ? await ctx.requests.get(input.about) : null;
  const reason = [input.name ? `from ${input.name}` : 'from the contact form', about ? `about ${about.type} request ${about.id} (${about.state})` : ''].filter(Boolean).join(', ');
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.requests.createIn(trx, request, 'Message received; our support staff will answer by email.');
    await ctx.tickets.openIn(trx, { id: ticketId, kind: 'contact', requestId: id, email: input.email, subject: `Message from ${input.email}`, reason, ...(about?.ip && { ip: about.ip }), ...(about?.tenant && { tenant: about.tenant }) }, now);
    await ctx.tickets.addEventIn(trx, ticketId, { at: now.toISOString(), actor: input.email, message: input.message, type: 'requester' });
  });
  return id;
}
