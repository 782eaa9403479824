import type { RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { parseAddress } from '../../domain/ip.js';
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

/** The list-changing routes: triager may change narrow entries; the guardrails ask for admin where an entry is wide. */
export function listActions(ctx: Context): Array<['post', string, Role, RequestHandler]> {
  const back = (anchor: string): RequestHandler => (_req, res) => res.redirect(303, `/staff/lists#${anchor}`);
  const run =
    (fn: (req: Parameters<RequestHandler>[0]) => Promise<unknown>, anchor: string): RequestHandler =>
    async (req, res, next) => {
      await fn(req);
      back(anchor)(req, res, next);
    };
  return [
    ['post', '/staff/lists/blocklist/add', 'triager', run((req) => staffAddListing(ctx, req.staff!, { target: addr(req.body?.target), category: str(req.body?.category), ...(str(req.body?.expires) && { expires: str(req.body?.expires) }), ...(str(req.body?.reason) && { reason: str(req.body?.reason) }) }), 'blocklist')],
    ['post', '/staff/lists/blocklist/remove', 'triager', run((req) => staffRemoveListing(ctx, req.staff!, addr(req.body?.target), str(req.body?.reason)), 'blocklist')],
    ['post', '/staff/lists/allowlist/add', 'triager', run((req) => allow(ctx, req.staff!, { target: addr(req.body?.target), reason: str(req.body?.reason), ...(str(req.body?.reviewBy) && { reviewBy: str(req.body?.reviewBy) }) }), 'allowlist')],
    ['post', '/staff/lists/allowlist/remove', 'triager', run((req) => disallow(ctx, req.staff!, addr(req.body?.target)), 'allowlist')],
    ['post', '/staff/lists/pools/assign', 'triager', run((req) => assignPool(ctx, { kind: str(req.body?.kind) === 'domain' ? 'domain' : 'tenant', key: str(req.body?.key), pool: str(req.body?.pool), expires: str(req.body?.expires) || 'never', reason: str(req.body?.reason), source: 'staff', by: req.staff!.email }), 'pools')],
    ['post', '/staff/lists/pools/release', 'triager', run((req) => releasePool(ctx, str(req.body?.kind) === 'domain' ? 'domain' : 'tenant', str(req.body?.key), req.staff!.email, 'released by staff'), 'pools')],
    ['post', '/staff/lists/restrictions/block', 'triager', run((req) => restrictTenant(ctx, str(req.body?.tenant), str(req.body?.reason) || 'blocked by staff', req.staff!.email), 'restrictions')],
  ];
}
