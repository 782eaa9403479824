import express, { Router, type RequestHandler } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { Role } from '../../stores/staff.js';
import { FILTER_FIELDS, REPLY_TEMPLATES, SORTS, TICKET_KINDS, type FilterField } from '../../stores/tickets.js';
import { STATE_LABELS } from '../status/labels.js';
import * as actions from './actions.js';
import { LANGUAGE_NAMES, translator } from '../../i18n/index.js';
import { isStaffText, STAFF_TEXTS } from './staff-texts.js';
import { loginRoutes, noStore, requireRole, requireStaff, staffSession } from './auth.js';
import { addressPage } from './address.js';
import { allowlistTable, exclusionsTable, listTableActions, poolsTable, restrictionsTable, tenantsTable } from './list-tables.js';
import { tenantPage, tenantSummary } from './tenant-page.js';
import { listingsTable, listsPage, listActions } from './lists.js';
import { auditPage } from './audit-page.js';
import { caseEvidence } from './evidence.js';
import { tenantActions, tenantsPage } from './tenants.js';
import { chartLibrary, dashboardJson, dashboardPage, duration, glance } from './dashboard.js';

/** Our reply texts, as staff pick them (in English; each requester reads them in their own language). */
const en = translator('en');
const CANNED_TEXTS = STAFF_TEXTS.map((id) => ({ id, text: en(`staffText.template.${id}`) }));

type Route = [method: 'get' | 'post', path: string, role: Role, handler: RequestHandler];

const queueQuery = z.object({
  kind: z.enum(TICKET_KINDS).optional().catch(undefined),
  state: z.enum(['open', 'closed']).catch('open'),
  sort: z.enum(SORTS).catch('sla'),
  after: z.string().max(200).optional().catch(undefined),
  ...Object.fromEntries(FILTER_FIELDS.map((f) => [f, z.string().trim().max(254).optional().catch(undefined)])),
});

/**
 * The staff area. Guarded once here — session, no-store, then each route's role — and listed below like a table
 * of contents: viewer reads, triager acts on tickets and lists, admin does what is wide or dangerous.
 */
export function staffRoutes(ctx: Context, extra: { queuesDashboard?: RequestHandler } = {}): Router {
  const r = Router();
  const login = loginRoutes(ctx);
  const actor = (req: express.Request) => ({ user: req.staff! });

  const queue: RequestHandler = async (req, res) => {
    const q = queueQuery.parse(req.query);
    const filters = Object.fromEntries(FILTER_FIELDS.map((f) => [f, (q as Record<string, string | undefined>)[f]]).filter(([, v]) => v)) as Partial<Record<FilterField, string>>;
    const [page, counts, figures] = await Promise.all([ctx.tickets.query({ state: q.state, ...(q.kind && { kind: q.kind }), sort: q.sort, filters, ...(q.after && { after: q.after }), limit: 50 }), ctx.tickets.counts(q.state), q.after ? null : glance(ctx)]);
    res.render('staff/queue', { title: 'Triage queue', q, filters, page, counts, kinds: TICKET_KINDS, sorts: SORTS, fields: FILTER_FIELDS, now: Date.now(), glance: figures, duration, cannedTexts: CANNED_TEXTS });
  };

  const ticketPage: RequestHandler = async (req, res) => {
    const ticket = await ctx.tickets.get(String(req.params.id));
    if (!ticket) throw new NotFoundError('There is no such ticket.');
    const [events, request, reportIds] = await Promise.all([ctx.tickets.events(ticket.id), ticket.requestId ? ctx.requests.get(ticket.requestId) : null, ctx.tickets.reports(ticket.id)]);
    const { reports, groups, tally } = await caseEvidence(ctx, ticket, reportIds, typeof req.query.report === 'string' ? req.query.report.slice(0, 64) : undefined);
    res.locals.tenantNow = await tenantSummary(ctx, ticket.tenant); // the tenant's pool, restriction and recent reports, inline
    const assignment = ticket.tenant ? await ctx.assignments.get('tenant', ticket.tenant) : null;
    const directory = ticket.tenant ? await ctx.tenants.get(ticket.tenant) : null;
    res.render('staff/ticket', { title: ticket.subject, ticket, events, request, reports, groups, tally, windowHours: ctx.policy.abuse.windowHours, highRiskThreshold: ctx.policy.abuse.highRiskThreshold, reportCount: reportIds.length, assignment, directory, templates: REPLY_TEMPLATES, labels: STATE_LABELS, languageNames: LANGUAGE_NAMES, cannedTexts: CANNED_TEXTS });
  };

  const act: RequestHandler = async (req, res) => {
    const id = String(req.params.id);
    const b = req.body as Record<string, string | undefined>;
    const a = actor(req);
    // Hours as typed: a number that is not one is an error beside the field, never a silent default.
    const hoursText = String(b.hours ?? '').trim();
    const parsedHours = z.coerce.number().int().min(1).max(24 * 365).safeParse(hoursText);
    const hours = (): number => {
      if (!parsedHours.success) throw new ValidationError('Hours must be a whole number from 1 to 8760.', { hours: 'invalid' });
      return parsedHours.data;
    };
    // A refusal or closure tells the requester why: the reason is required (a refusal's may be one of our texts, `canned`).
    const canned = isStaffText(b.canned) ? b.canned : undefined;
    const reason = (orCanned = false): string => {
      const text = String(b.reason ?? '').trim();
      if (orCanned && canned && !text) return '';
      if (text.length < 3 || text.length > 2000) throw new ValidationError('Give the reason the requester will read (3 to 2000 characters).', { reason: 'required' });
      return text;
    };
    switch (b.action) {
      case 'approve-delist': await actions.approveDelist(ctx, id, a); break;
      case 'refuse-delist': await actions.refuseDelist(ctx, id, reason(true), a, canned); break;
      case 'confirm-abuse': await actions.confirmAbuse(ctx, id, hours(), a); break;
      case 'dismiss-abuse': await actions.dismissAbuse(ctx, id, reason(), a); break;
      case 'set-pool': await actions.setPool(ctx, id, String(b.pool ?? ''), hoursText ? hours() : null, a); break;
      case 'merge': await actions.mergeCase(ctx, id, String(b.duplicate ?? '').trim(), a); break;
      case 'approve-unblock': await actions.approveUnblock(ctx, id, a); break;
      case 'refuse-unblock': await actions.refuseUnblock(ctx, id, reason(true), a, canned); break;
      case 'close': await actions.bulkClose(ctx, [id], reason(true), a, canned); break;
      default: throw new ValidationError('Unknown action.', { action: 'unknown' });
    }
    res.redirect(303, `/staff/tickets/${encodeURIComponent(id)}`);
  };

  const note: RequestHandler = async (req, res) => {
    await actions.addNote(ctx, String(req.params.id), String(req.body?.note ?? ''), actor(req));
    res.redirect(303, `/staff/tickets/${encodeURIComponent(String(req.params.id))}#timeline`);
  };

  const reply: RequestHandler = async (req, res) => {
    const template = z.enum(REPLY_TEMPLATES).catch('update').parse(req.body?.template);
    await actions.reply(ctx, String(req.params.id), template, String(req.body?.reply ?? ''), actor(req), isStaffText(req.body?.canned) ? req.body.canned : undefined);
    res.redirect(303, `/staff/tickets/${encodeURIComponent(String(req.params.id))}#timeline`);
  };

  const bulk: RequestHandler = async (req, res) => {
    const ids = ([] as string[]).concat(req.body?.ids ?? []).filter((v) => typeof v === 'string');
    if (!ids.length) throw new ValidationError('Select at least one ticket.', { ids: 'Select at least one ticket.' });
    const reason = String(req.body?.reason ?? '').trim();
    const canned = isStaffText(req.body?.canned) ? req.body.canned : undefined;
    if ((reason || !canned) && (reason.length < 3 || reason.length > 2000)) throw new ValidationError('Give the reason the requesters will read (3 to 2000 characters).', { reason: 'required' });
    await actions.bulkClose(ctx, ids, reason, actor(req), canned);
    res.redirect(303, '/staff');
  };

  const rawSample: RequestHandler = async (req, res) => {
    const raw = await ctx.requests.sample(String(req.params.id));
    if (!raw) throw new NotFoundError('No sample is kept for this report.');
    // Evidence is shown as text, never rendered: text/plain, nosniff, and a CSP that allows nothing.
    res.set({ 'Content-Type': 'text/plain; charset=utf-8', 'Content-Disposition': 'inline', 'Content-Security-Policy': "default-src 'none'; sandbox" }).send(raw);
  };

  const users: RequestHandler = async (_req, res) => res.render('staff/users', { title: 'Staff accounts', users: await ctx.staff.list() });

  const routes: Route[] = [
    ['get', '/staff', 'viewer', queue],
    ['get', '/staff/dashboard', 'viewer', dashboardPage(ctx)],
    ['get', '/staff/dashboard.json', 'viewer', dashboardJson(ctx)],
    ['get', '/staff/assets/chart.umd.min.js', 'viewer', chartLibrary()],
    ['get', '/staff/tickets/:id', 'viewer', ticketPage],
    ['get', '/staff/reports/:id/raw', 'viewer', rawSample],
    ['get', '/staff/lists', 'viewer', listsPage(ctx)],
    ['get', '/staff/address/:ip', 'viewer', addressPage(ctx)],
    ['get', '/staff/lists/blocklist', 'viewer', listingsTable(ctx)],
    ['get', '/staff/lists/exclusions', 'viewer', exclusionsTable(ctx)],
    ['get', '/staff/lists/allowlist', 'viewer', allowlistTable(ctx)],
    ['get', '/staff/lists/pools', 'viewer', poolsTable(ctx)],
    ['get', '/staff/lists/restrictions', 'viewer', restrictionsTable(ctx)],
    ['get', '/staff/lists/tenants', 'triager', tenantsTable(ctx)],
    ['get', '/staff/tenants/:id', 'triager', tenantPage(ctx)],
    ['get', '/staff/audit', 'viewer', auditPage(ctx)],
    ['get', '/staff/tenants', 'triager', tenantsPage(ctx)],
    ['post', '/staff/tickets/:id/action', 'triager', act],
    ['post', '/staff/tickets/:id/note', 'triager', note],
    ['post', '/staff/tickets/:id/reply', 'triager', reply],
    ['post', '/staff/bulk', 'triager', bulk],
    ...listActions(ctx),
    ...listTableActions(ctx),
    ...tenantActions(ctx),
    ['get', '/staff/users', 'admin', users],
  ];

  r.use('/staff', staffSession(ctx), noStore);
  r.get('/staff/login', login.page);
  r.post('/staff/login', ...login.submit);
  r.post('/staff/logout', login.logout);
  r.use('/staff', requireStaff(ctx));
  for (const [method, path, role, handler] of routes) r[method](path, requireRole(role), handler);
  if (extra.queuesDashboard) r.use('/staff/queues', requireRole('admin'), extra.queuesDashboard);
  return r;
}

