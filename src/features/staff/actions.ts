import type { Kysely } from 'kysely';
import type { Context } from '../../context.js';
import type { Database } from '../../db/schema.js';
import { networkOf, parseAddress } from '../../domain/ip.js';
import { planSelfDelist } from '../../domain/listing.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../../errors.js';
import { liftRefusal } from '../../domain/guardrails.js';
import type { StaffUser } from '../../stores/staff.js';
import type { ReplyTemplate, Ticket } from '../../stores/tickets.js';
import { translator } from '../../i18n/index.js';
import { assignPool, releasePool } from '../pools/service.js';
import { liftToProbation, getRestriction } from '../unblock/service.js';
import { cannedText, isStaffText, withTemplate, type StaffTextId, type StaffWords } from './staff-texts.js';

const en = translator('en');

/** What we say to a requester as a message key and its parameters (issue 16), with its English text for the staff timeline and logs. */
const said = (key: string, params?: Record<string, unknown>): StaffWords => ({ text: en(key, params), key, ...(params && { params }) });

/**
 * What staff can do to a ticket, each a short use case: it checks the ticket is of the right kind and open,
 * changes what it must (through the routing publisher where a dataset changes), writes the ticket's timeline and
 * the audit log (who, when, before, after), and mails the requester where one is waiting.
 */
export interface Actor {
  user: StaffUser;
  now?: Date;
}

const at = (a: Actor) => (a.now ?? new Date()).toISOString();

async function load(ctx: Context, id: string, kind?: Ticket['kind']): Promise<Ticket> {
  const ticket = await ctx.tickets.get(id);
  if (!ticket) throw new NotFoundError('There is no such ticket.');
  if (kind && ticket.kind !== kind) throw new ConflictError('WRONG_KIND', `This action is for ${kind} tickets.`);
  return ticket;
}

function mustBeOpen(ticket: Ticket): void {
  if (ticket.state !== 'open') throw new ConflictError('TICKET_CLOSED', 'This ticket is already closed.');
}

/**
 * Closes a ticket with its resolution, timeline and audit entry in one transaction (closing frees a tenant's case
 * key: the next report opens a new case). Closing is conditional on the ticket being open, so of two staff closing
 * it at once one wins and the other gets TICKET_CLOSED. `alsoIn` adds rows to the same transaction (the request's
 * outcome and its result mail, a merge's moved reports).
 */
async function close(ctx: Context, ticket: Ticket, a: Actor, action: string, resolution: string, alsoIn?: (trx: Kysely<Database>) => Promise<void>): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    await closeIn(ctx, trx, ticket, a, action, resolution);
    await alsoIn?.(trx);
  });
}

async function closeIn(ctx: Context, trx: Kysely<Database>, ticket: Ticket, a: Actor, action: string, resolution: string): Promise<void> {
  const after = await ctx.tickets.closeIn(trx, ticket.id, resolution, a.now);
  if (!after) throw new ConflictError('TICKET_CLOSED', 'This ticket is already closed.');
  await ctx.tickets.addEventIn(trx, ticket.id, { at: at(a), actor: a.user.email, message: `${action}: ${resolution}`, type: 'action' });
  await ctx.audit.appendIn(trx, { at: at(a), actor: a.user.email, action: `ticket.${action}`, target: ticket.id, reason: resolution, before: { state: ticket.state }, after: { state: after.state, resolution } });
}

/** The requests a reply reaches: the ticket's own request, or every reporter of an abuse case who gave an email. */
async function requestsOf(ctx: Context, ticket: Ticket): Promise<string[]> {
  if (ticket.requestId) return [ticket.requestId];
  const ids = await ctx.tickets.reports(ticket.id);
  const requests = await Promise.all(ids.map((id) => ctx.requests.get(id)));
  return requests.filter((r) => r?.email).map((r) => r!.id);
}

/** Request states a staff decision still has to end: the requester's status page waits for it (and promises a mail). */
const AWAITING_STAFF = ['needs_review', 'received', 'queued'] as const;

/**
 * Tells the requests behind a ticket that staff closed it: each one still waiting moves to `closed` with the reason
 * it reads on its status page (a message key when `reasonCode` is given, else the staff's own words), and, when
 * `mail` is set, gets the request-closed mail with that reason. Used where the closing action mails nothing else.
 */
async function closeRequestsIn(ctx: Context, trx: Kysely<Database>, ticket: Ticket, a: Actor, reason: string, opts: { reasonCode?: string; reasonParams?: string; mail: boolean }): Promise<void> {
  const ids = ticket.requestId ? [ticket.requestId] : await ctx.tickets.reports(ticket.id);
  const closed = await ctx.requests.transitionManyIn(trx, ids, AWAITING_STAFF, 'closed', reason, { reason, reasonCode: opts.reasonCode ?? '', ...(opts.reasonParams && { reasonParams: opts.reasonParams }) }, a.now);
  if (opts.mail) for (const r of closed) if (r.email) await ctx.jobs.sendMailIn(trx, 'request-closed', r.id);
}

export async function addNote(ctx: Context, id: string, text: string, a: Actor): Promise<void> {
  const ticket = await load(ctx, id);
  const clean = text.trim();
  if (!clean || clean.length > 5000) throw new ValidationError('A note is 1 to 5000 characters.', { note: 'length' });
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.tickets.addEventIn(trx, ticket.id, { at: at(a), actor: a.user.email, message: clean, type: 'note' });
    await ctx.audit.appendIn(trx, { at: at(a), actor: a.user.email, action: 'ticket.note', target: ticket.id, reason: 'internal note' });
  });
}

/**
 * Mails the requester(s) with the template for this kind of update; the text stays on the timeline as a reply. The
 * text is the staff member's own, or one of our reply texts (`canned`, src/features/staff/staff-texts.ts) which each
 * requester reads in their own language, with the staff member's words after it if they added some.
 */
export async function reply(ctx: Context, id: string, template: ReplyTemplate, text: string, a: Actor, canned?: string): Promise<number> {
  const ticket = await load(ctx, id);
  const clean = text.trim();
  const words = cannedText(canned, clean);
  if (clean.length > 5000 || (!clean && !words)) throw new ValidationError('A reply is 1 to 5000 characters.', { reply: 'length' });
  const recipients = await requestsOf(ctx, ticket);
  if (!recipients.length) throw new ConflictError('NO_RECIPIENT', 'Nobody on this ticket gave an email address.');
  await ctx.db.transaction().execute((trx) => replyIn(ctx, trx, ticket, recipients, template, words ?? clean, a));
  return recipients.length;
}

/**
 * The reply's timeline entry, audit row and mail jobs, in the caller's transaction (nothing when nobody gave an
 * address). `text` is a staff member's own words, or our wording as a message key (mailed in each requester's language).
 */
async function replyIn(ctx: Context, trx: Kysely<Database>, ticket: Ticket, recipients: string[], template: ReplyTemplate, text: string | StaffWords, a: Actor): Promise<void> {
  if (!recipients.length) return;
  const body = typeof text === 'string' ? { body: text } : { body: text.text, key: text.key, ...(text.params && { params: text.params }) };
  const id = await ctx.tickets.addReplyIn(trx, ticket.id, { at: at(a), author: a.user.email, template, ...body });
  await ctx.audit.appendIn(trx, { at: at(a), actor: a.user.email, action: 'ticket.reply', target: ticket.id, reason: `${template} to ${recipients.length} requester(s)` });
  for (const requestId of recipients) await ctx.jobs.sendMailIn(trx, 'staff-reply', requestId, id);
}

export async function approveDelist(ctx: Context, id: string, a: Actor): Promise<void> {
  const ticket = await load(ctx, id, 'delist-review');
  mustBeOpen(ticket);
  const request = await ctx.requests.get(ticket.requestId!);
  if (!request) throw new NotFoundError('The request behind this ticket is gone.');
  const addr = parseAddress(request.ip);
  const now = a.now ?? new Date();
  // The list change, the ticket's closing, its timeline, the audit row, the request's outcome and its mail commit together.
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const verdict = await ctx.blocklist.lookup(addr, now, trx);
    const refusal = liftRefusal(ctx.policy, verdict.covering ?? [], a.user.role);
    if (refusal) throw new ForbiddenError('ROLE_REQUIRED', refusal);
    const changes = planSelfDelist(networkOf(addr, addr.version === 4 ? 32 : 128), verdict, { reason: `delisted by ${a.user.email} (ticket ${ticket.id})`, source: 'staff', now });
    if (changes) await ctx.blocklist.applyIn(trx, changes, [{ cidr: verdict.listing!.cidr, event: { at: at(a), action: 'removed', by: a.user.email, detail: `approved on ticket ${ticket.id}`, requestId: request.id } }], now);
    await closeIn(ctx, trx, ticket, a, 'approve', changes ? `delisted ${addr.text}` : `${addr.text} was no longer listed`);
    const code = changes ? 'staff-delisted' : 'staff-not-listed';
    const reason = en(`reason.${code}`);
    await ctx.requests.transitionIn(trx, request.id, 'delisted', reason, { reason, reasonCode: code }, now);
    await ctx.jobs.sendMailIn(trx, 'delist-result', request.id, 'delisted');
  });
}

/**
 * The reason a refusal gives the requester: the staff member's words and/or one of our texts (`canned`), as the
 * message key `reason.<code>` with them as parameters, so the requester reads our part in their language.
 */
function refusal(code: 'staff-refused' | 'unblock-refused', fallback: StaffTextId, why: string, canned?: string) {
  const note = why.trim();
  const params = isStaffText(canned) ? { template: canned, ...(note && { note }) } : note ? { note } : { template: fallback };
  const reason = en(`reason.${code}`, withTemplate(en, params));
  return { reason, params, fields: { reason, reasonCode: code, reasonParams: JSON.stringify(params) } };
}

export async function refuseDelist(ctx: Context, id: string, why: string, a: Actor, canned?: string): Promise<void> {
  const ticket = await load(ctx, id, 'delist-review');
  mustBeOpen(ticket);
  const { reason, fields } = refusal('staff-refused', 'cannot-now', why, canned);
  await close(ctx, ticket, a, 'refuse', reason, async (trx) => {
    await ctx.requests.transitionIn(trx, ticket.requestId!, 'refused', reason, fields, a.now);
    await ctx.jobs.sendMailIn(trx, 'delist-result', ticket.requestId!, 'refused');
  });
}

/**
 * Abuse confirmed: the tenant goes to the high-risk pool for `hours` (if it has one) and the reporters hear so; the
 * pool change, the closing and the reporters' mails commit together.
 */
export async function confirmAbuse(ctx: Context, id: string, hours: number, a: Actor): Promise<void> {
  const ticket = await load(ctx, id, 'abuse-case');
  mustBeOpen(ticket);
  const recipients = await requestsOf(ctx, ticket);
  await ctx.db.transaction().execute(async (trx) => {
    // The publisher's lock first, as every routing change takes it, then the ticket (no lock-order inversion).
    if (ticket.tenant) await ctx.routing.lockIn(trx);
    await closeIn(ctx, trx, ticket, a, 'confirm', ticket.tenant ? `abuse confirmed; tenant ${ticket.tenant} in the high-risk pool for ${hours} h` : 'abuse confirmed');
    if (ticket.tenant) await assignPool(ctx, { kind: 'tenant', key: ticket.tenant, pool: 'high-risk', expires: `${hours}h`, reason: `abuse confirmed on ${ticket.id}`, source: 'staff', by: a.user.email }, a.now, trx);
    await replyIn(ctx, trx, ticket, recipients, 'resolved', said('reason.report-acted'), a);
    await closeRequestsIn(ctx, trx, ticket, a, 'We confirmed the abuse you reported and acted on the sender.', { reasonCode: 'report-acted', mail: false });
  });
}

export async function dismissAbuse(ctx: Context, id: string, why: string, a: Actor): Promise<void> {
  const ticket = await load(ctx, id, 'abuse-case');
  mustBeOpen(ticket);
  const recipients = await requestsOf(ctx, ticket);
  await close(ctx, ticket, a, 'dismiss', why.trim() || 'not abuse', async (trx) => {
    await replyIn(ctx, trx, ticket, recipients, 'resolved', said('reason.report-not-actionable'), a);
    await closeRequestsIn(ctx, trx, ticket, a, 'We found no abuse by our customer that we can act on.', { reasonCode: 'report-not-actionable', mail: false });
  });
}

/** A tenant's pool set (or released) from a ticket: the routing change and the ticket's timeline entry commit together. */
export async function setPool(ctx: Context, id: string, pool: string, hours: number | null, a: Actor): Promise<void> {
  const ticket = await load(ctx, id);
  const tenant = ticket.tenant;
  if (!tenant) throw new ConflictError('NO_TENANT', 'This ticket has no tenant to assign.');
  await ctx.db.transaction().execute(async (trx) => {
    if (pool === 'release') await releasePool(ctx, 'tenant', tenant, a.user.email, `released on ${ticket.id}`, a.now, trx);
    else await assignPool(ctx, { kind: 'tenant', key: tenant, pool, expires: hours ? `${hours}h` : 'never', reason: `assigned on ${ticket.id}`, source: 'staff', by: a.user.email }, a.now, trx);
    await ctx.tickets.addEventIn(trx, ticket.id, { at: at(a), actor: a.user.email, message: pool === 'release' ? 'pool assignment released' : `tenant assigned to ${pool}${hours ? ` for ${hours} h` : ''}`, type: 'action' });
  });
}

/** Merges a duplicate case into this one: its reports move here, it closes pointing at this one. */
export async function mergeCase(ctx: Context, id: string, duplicateId: string, a: Actor): Promise<void> {
  const target = await load(ctx, id, 'abuse-case');
  const duplicate = await load(ctx, duplicateId, 'abuse-case');
  if (target.id === duplicate.id) throw new ValidationError('A case cannot be merged into itself.', { duplicate: 'same' });
  mustBeOpen(duplicate);
  await close(ctx, duplicate, a, 'merge', `merged into ${target.id}`, async (trx) => {
    await ctx.tickets.moveReportsIn(trx, duplicate.id, target.id);
    await ctx.requests.moveToTicketIn(trx, duplicate.id, target.id); // their mails (replies, reply address) now come from this case
    await ctx.tickets.addEventIn(trx, target.id, { at: at(a), actor: a.user.email, message: `merged ${duplicate.id} into this case`, type: 'action' });
  });
}

/** Unblock approved: the restriction lifted into probation, the ticket closed, the request's outcome and its mail, in one transaction. */
export async function approveUnblock(ctx: Context, id: string, a: Actor): Promise<void> {
  const ticket = await load(ctx, id, 'tenant-unblock');
  mustBeOpen(ticket);
  const recipients = await requestsOf(ctx, ticket);
  const params = { tenant: ticket.tenant, days: ctx.policy.unblock.probationDays };
  const reason = en('reason.unblock-approved', params);
  const restricted = await getRestriction(ctx, ticket.tenant!);
  await ctx.db.transaction().execute(async (trx) => {
    if (restricted) await ctx.routing.lockIn(trx); // the publisher's lock before the ticket's row, as every routing change
    await closeIn(ctx, trx, ticket, a, 'approve', restricted ? reason : 'approved (the tenant had no restriction)');
    if (restricted) await liftToProbation(ctx, ticket.tenant!, `unblock approved on ${ticket.id}`, a.user.email, a.now, trx);
    await ctx.requests.transitionIn(trx, ticket.requestId!, 'approved', reason, { reason, reasonCode: 'unblock-approved', reasonParams: JSON.stringify(params) }, a.now);
    await replyIn(ctx, trx, ticket, recipients, 'resolved', said('reason.unblock-approved', params), a);
  });
}

export async function refuseUnblock(ctx: Context, id: string, why: string, a: Actor, canned?: string): Promise<void> {
  const ticket = await load(ctx, id, 'tenant-unblock');
  mustBeOpen(ticket);
  const recipients = await requestsOf(ctx, ticket);
  const { reason, fields, params } = refusal('unblock-refused', 'evidence-missing', why, canned);
  await close(ctx, ticket, a, 'refuse', reason, async (trx) => {
    await ctx.requests.transitionIn(trx, ticket.requestId!, 'refused', reason, fields, a.now);
    await replyIn(ctx, trx, ticket, recipients, 'resolved', { text: reason, key: 'reason.unblock-refused', params }, a);
  });
}

/**
 * Bulk close from the queue: each ticket closed on its own (one failing does not stop the others). The reason is the
 * staff's words and/or one of our texts (`canned`), kept as `reason.staff-words` with them as parameters: each
 * requester reads our text in their language, the staff's words as written.
 */
export async function bulkClose(ctx: Context, ids: string[], why: string, a: Actor, canned?: string): Promise<{ closed: number; skipped: number }> {
  const note = why.trim();
  const params = isStaffText(canned) ? { template: canned, ...(note && { note }) } : note ? { note } : null;
  const words = params ? { reason: en('reason.staff-words', withTemplate(en, params)), reasonCode: 'staff-words', reasonParams: JSON.stringify(params) } : null;
  let closed = 0;
  for (const id of ids.slice(0, 200)) {
    const ticket = await ctx.tickets.get(id);
    if (!ticket || ticket.state !== 'open') continue;
    try {
      // Closing without action (one ticket or in bulk) tells every requester still waiting, with the staff's reason.
      const reason = words?.reason || 'closed in bulk';
      await close(ctx, ticket, a, 'close', reason, (trx) => closeRequestsIn(ctx, trx, ticket, a, reason, { ...(words && { reasonCode: words.reasonCode, reasonParams: words.reasonParams }), mail: true }));
      closed++;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err; // closed by someone else meanwhile
    }
  }
  return { closed, skipped: ids.length - closed };
}
