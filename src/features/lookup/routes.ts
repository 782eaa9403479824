import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { parseAddress } from '../../domain/ip.js';
import { countOrShowForm, limiter } from '../../http/rate-limit.js';
import { echo, parseForm, publicIp } from '../delist/schema.js';

const lookupQuery = z.object({ ip: publicIp });

/** `/lookup?ip=`: is this address listed, why, since when, and the way out. Only a valid address counts against the limit. */
export function lookupRoutes(ctx: Context): Router {
  const r = Router();
  const limit = limiter(ctx.redis, ctx.keys, 'lookup-client', ctx.policy.rateLimits.lookupPerClientIp);
  r.get('/lookup', async (req, res) => {
    const values = echo(req.query, ['ip']);
    if (!values.ip) return res.render('lookup/show', { title: 'Is my IP address listed?', values, errors: {}, result: null });
    const parsed = parseForm(lookupQuery, req.query);
    if (!parsed.ok) return res.status(400).render('lookup/show', { title: 'Please check the IP address', values, errors: parsed.fields, result: null });
    if (!(await countOrShowForm([limit], req, res, (limited) => res.render('lookup/show', { title: 'Too many requests', values, errors: {}, result: null, limited })))) return;
    const verdict = await ctx.blocklist.lookup(parseAddress(parsed.value.ip));
    const category = verdict.listed && verdict.listing ? ctx.policy.categories[verdict.listing.category] : undefined;
    res.set('Cache-Control', 'no-store');
    res.render('lookup/show', { title: `Lookup of ${parsed.value.ip}`, values, errors: {}, result: { ip: parsed.value.ip, verdict, category } });
  });
  return r;
}
