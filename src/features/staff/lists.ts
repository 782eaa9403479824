import type { RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { IpInputError, parseAddress, parseNetwork } from '../../domain/ip.js';
import { normalizeIpInput } from '../../domain/ip-input.js';
import type { Role } from '../../stores/staff.js';
import { allow, allowEntries, disallow, staffAddListing, staffRemoveListing } from '../lists/service.js';
import { assignPool, releasePool } from '../pools/service.js';
import { restrictTenant } from '../unblock/service.js';

/** The lists page: look up an address (its verdict and history), recent changes, the allow list, pools, restrictions. */
export function listsPage(ctx: Context): RequestHandler {
  return async (req, res) => {
    const ip = typeof req.query.ip === 'string' ? normalizeIpInput(req.query.ip.slice(0, 200)).slice(0, 100) : '';
    let lookup: unknown = null;
    if (ip) {
      try {
        const verdict = await ctx.blocklist.lookup(parseAddress(ip));
        lookup = { ip, verdict, history: verdict.listing ? await ctx.blocklist.history(verdict.listing.cidr) : [] };
      } catch {
        lookup = { ip, error: 'Not a valid IP address.' };
      }
    }
    const [recent, allowed, assignments, restrictions] = await Promise.all([
      ctx.routing.recent(30),
      allowEntries(ctx),
      ctx.assignments.list(500),
      ctx.restrictions.list(500),
    ]);
    res.render('staff/lists', {
      title: 'Lists',
      lookup,
      recent,
      allowed,
      assignments,
      restrictions,
      categories: Object.keys(ctx.policy.categories),
      policy: ctx.policy,
    });
  };
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');
/** An address or network as typed, IME full-width forms made ASCII (src/domain/ip-input.ts). */
const addr = (v: unknown) => normalizeIpInput(str(v));

const SORTS = ['newest', 'expiring', 'cidr'] as const;

/** A real calendar day written YYYY-MM-DD. */
function isDay(v: string): boolean {
  const d = new Date(`${v}T00:00:00Z`);
  return /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === v;
}

/**
 * The table of current listings: filter by address or range (listings containing it or inside it), category and
 * source; sort newest first, soonest to expire or by network; 50 a page by cursor; each row with its actions.
 */
export function listingsTable(ctx: Context): RequestHandler {
  return async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const text = (k: string, max: number) => (typeof q[k] === 'string' ? (q[k] as string).trim().slice(0, max) : '');
    const filters = { ip: normalizeIpInput(text('ip', 100)), category: text('category', 64), source: text('source', 64), sort: (SORTS as readonly string[]).includes(text('sort', 16)) ? (text('sort', 16) as (typeof SORTS)[number]) : 'newest' };
    const errors: Record<string, string> = {};
    let overlapping;
    if (filters.ip) {
      try {
        overlapping = parseNetwork(filters.ip);
      } catch (err) {
        errors.ip = err instanceof IpInputError ? err.message : 'Not an IP address or range.';
      }
    }
    if (filters.category && !ctx.policy.categories[filters.category]) errors.category = 'Not a category.';
    const dates = { since: text('since', 10), until: text('until', 10) };
    for (const [k, v] of Object.entries(dates)) if (v && !isDay(v)) errors[k] = 'A date is YYYY-MM-DD.';
    if (dates.since && dates.until && !errors.since && !errors.until && dates.since > dates.until) errors.until = 'The end date is before the start date.';
    const page = Object.keys(errors).length
      ? { entries: [], next: null }
      : await ctx.blocklist.page({ ...(overlapping && { overlapping }), ...(filters.category && { category: filters.category }), ...(filters.source && { source: filters.source }), ...(dates.since && { since: dates.since }), ...(dates.until && { until: dates.until }), sort: filters.sort, ...(text('after', 400) && { after: text('after', 400) }), limit: 50 });
    Object.assign(filters, dates);
    if (Object.keys(errors).length) res.status(400);
    const query = (extra: Record<string, string>) => new URLSearchParams(Object.entries({ ...filters, ...extra }).filter(([, v]) => v) as Array<[string, string]>).toString();
    res.render('staff/listings', { title: 'Listings', filters, errors, page, categories: Object.keys(ctx.policy.categories), sorts: SORTS, here: `/staff/lists/blocklist?${query({ after: text('after', 400) })}`, nextUrl: page.next ? `/staff/lists/blocklist?${query({ after: page.next })}` : null });
  };
}

/** The list-changing routes: triager may change narrow entries; the guardrails ask for admin where an entry is wide. */
export function listActions(ctx: Context): Array<['post', string, Role, RequestHandler]> {
  // Back where the action was taken: a list table (its filters and page kept), else the lists page.
  const back =
    (anchor: string): RequestHandler =>
    (req, res) => {
      const from = str(req.body?.return);
      res.redirect(303, /^\/staff\/lists\/[a-z]+(\?[A-Za-z0-9_.~%=&:/+-]{0,800})?$/.test(from) ? from : `/staff/lists#${anchor}`);
    };
  const run =
    (fn: (req: Parameters<RequestHandler>[0]) => Promise<unknown>, anchor: string): RequestHandler =>
    async (req, res, next) => {
      await fn(req);
      back(anchor)(req, res, next);
    };
  return [
    ['post', '/staff/lists/blocklist/add', 'triager', run((req) => staffAddListing(ctx, req.staff!, { target: addr(req.body?.target), category: str(req.body?.category), ...(str(req.body?.expires) && { expires: str(req.body?.expires) }), ...(str(req.body?.reason) && { reason: str(req.body?.reason) }), override: str(req.body?.override) === 'on' }), 'blocklist')],
    ['post', '/staff/lists/blocklist/remove', 'triager', run((req) => staffRemoveListing(ctx, req.staff!, addr(req.body?.target), str(req.body?.reason)), 'blocklist')],
    ['post', '/staff/lists/allowlist/add', 'triager', run((req) => allow(ctx, req.staff!, { target: addr(req.body?.target), reason: str(req.body?.reason), ...(str(req.body?.reviewBy) && { reviewBy: str(req.body?.reviewBy) }) }), 'allowlist')],
    ['post', '/staff/lists/allowlist/remove', 'triager', run((req) => disallow(ctx, req.staff!, addr(req.body?.target)), 'allowlist')],
    ['post', '/staff/lists/pools/assign', 'triager', run((req) => assignPool(ctx, { kind: str(req.body?.kind) === 'domain' ? 'domain' : 'tenant', key: str(req.body?.key), pool: str(req.body?.pool), expires: str(req.body?.expires) || 'never', reason: str(req.body?.reason), source: 'staff', by: req.staff!.email }), 'pools')],
    ['post', '/staff/lists/pools/release', 'triager', run((req) => releasePool(ctx, str(req.body?.kind) === 'domain' ? 'domain' : 'tenant', str(req.body?.key), req.staff!.email, 'released by staff'), 'pools')],
    ['post', '/staff/lists/restrictions/block', 'triager', run((req) => restrictTenant(ctx, str(req.body?.tenant), str(req.body?.reason) || 'blocked by staff', req.staff!.email), 'restrictions')],
  ];
}
