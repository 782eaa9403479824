import { Router } from 'express';
import PostalMime from 'postal-mime';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { classify, factsFromHeaders, isLive, POOLS } from '../../domain/pools.js';
import { echo, parseForm } from '../delist/schema.js';
import { poolReasonTexts } from './reasons.js';
import { assignmentsFor } from './service.js';
import { acceptedDomainsOf } from '../tenants/service.js';

const MAX_HEADERS = 256 * 1024;
const triState = z.enum(['unknown', 'yes', 'no'], { message: 'errors.choice.invalid' }).default('unknown').transform((v) => (v === 'unknown' ? null : v === 'yes'));

/** Messages are keys the views translate (src/i18n/locales/*.json, `errors.*`). */
const explainForm = z.object({
  headers: z.string().min(1, 'errors.headers.required').max(MAX_HEADERS, 'errors.headers.tooLong'),
  hasA: triState,
  hasMx: triState,
  overLimits: z.literal('on', { message: 'errors.choice.invalid' }).optional(),
  acceptedDomains: z.string().max(2000, 'errors.acceptedDomains.tooLong').optional().default(''),
});

const FIELDS = ['headers', 'hasA', 'hasMx', 'overLimits', 'acceptedDomains'];

/** The public pool explainer: paste a message's headers, see which outbound pool it would leave through, and why. */
export function poolExplainerRoutes(ctx: Context): Router {
  const r = Router();
  const page = (values: Record<string, string>, errors: Record<string, string>, result: unknown) => ({ title: 'Which pool would this message leave through?', values, errors, result });

  r.get('/pools/explain', (_req, res) => res.render('pools/explain', page(echo({}, FIELDS), {}, null)));

  r.post('/pools/explain', async (req, res) => {
    const values = echo(req.body, FIELDS);
    const parsed = parseForm(explainForm, req.body);
    if (!parsed.ok) return res.status(400).render('pools/explain', page(values, parsed.fields, null));
    const block = parsed.value.headers.trimStart().replace(/\r?\n\r?\n[\s\S]*$/, '');
    const looksLikeHeaders = /^[\x21-\x39\x3b-\x7e]+:/.test(block);
    const message = looksLikeHeaders ? await PostalMime.parse(`${block}\r\n\r\n`, { maxNestingDepth: 2 }).catch(() => null) : null;
    if (!message || message.headers.length === 0) return res.status(400).render('pools/explain', page(values, { headers: 'errors.headers.notHeaders' }, null));
    // The domains the form names, and those the tenant directory registers to the tenant the headers name.
    const typed = parsed.value.acceptedDomains.split(/[\s,]+/).filter(Boolean).slice(0, 100);
    const acceptedDomains = [...typed, ...(await acceptedDomainsOf(ctx, factsFromHeaders(message.headers, { tenantHeader: ctx.policy.network.tenantHeader }).tenant))];
    const facts = {
      ...factsFromHeaders(message.headers, { tenantHeader: ctx.policy.network.tenantHeader, acceptedDomains }),
      domainHasA: parsed.value.hasA,
      domainHasMx: parsed.value.hasMx,
      overSendingLimits: parsed.value.overLimits === 'on',
    };
    const now = new Date();
    // The staff's reason text stays inside: the page shows what the headers say and each live assignment's public
    // reason, by who made it (our automation or our staff), as a message key.
    const assignments = (await assignmentsFor(ctx, facts.tenant, facts.senderDomain)).filter((a) => POOLS.includes(a.pool) && isLive(a, now)).map((a) => ({ ...a, reason: '' }));
    const publicReasons = new Map<string, { by: 'automation' | 'staff'; pool: string }>();
    for (const a of assignments) {
      const by = a.source === 'automation' ? 'automation' : 'staff';
      publicReasons.set(`${by}:${a.pool}`, { by, pool: a.pool });
    }
    const classification = classify(facts, assignments, now);
    const reasons = poolReasonTexts(res.locals.t, res.locals.lang, classification.steps);
    res.render('pools/explain', page(values, {}, { facts, classification, reasons, publicReasons: [...publicReasons.values()] }));
  });
  return r;
}
