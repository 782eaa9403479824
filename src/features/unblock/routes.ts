import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { limiter } from '../../http/rate-limit.js';
import { echo, parseForm } from '../delist/schema.js';
import { tenantId } from '../pools/service.js';
import { confirmUnblock, requestUnblock, viewUnblockConfirmation } from './service.js';

const checked = (message: string) => z.literal('on', { message });

const unblockForm = z.object({
  tenant: tenantId,
  email: z.string().trim().min(1, 'Enter the email address of a tenant administrator.').max(254).pipe(z.email({ message: 'Enter a valid email address.' })).transform((e) => e.toLowerCase()),
  domainsRegistered: checked('Register all your sending domains first (step 1).'),
  connectorsReviewed: checked('Check your inbound connectors first (step 2).'),
  serversLockedDown: checked('Lock down your on-premises servers first (step 3).'),
  evidence: z.string().trim().min(20, 'Tell us what you found and what you changed (at least a few sentences).').max(5000, 'Keep it under 5000 characters.'),
});

const FIELDS = ['tenant', 'email', 'domainsRegistered', 'connectorsReviewed', 'serversLockedDown', 'evidence'];

/** The public tenant unblock request (seeds/unregistered-domain-email): checklist + evidence → email challenge → ticket. */
export function unblockRoutes(ctx: Context): Router {
  const r = Router();
  const render = (res: Parameters<Parameters<Router['get']>[1]>[1], status: number, values: Record<string, string>, errors: Record<string, string>) =>
    res.status(status).render('unblock/form', { title: 'Unblock a tenant blocked from sending from unregistered domains', values, errors });

  r.get('/unblock', (req, res) => render(res, 200, echo(req.query, FIELDS), {}));
  r.post('/unblock', limiter(ctx.redis, ctx.keys, 'unblock-client', ctx.policy.rateLimits.delistPerClientIp), async (req, res) => {
    const parsed = parseForm(unblockForm, req.body);
    if (!parsed.ok) return render(res, 400, echo(req.body, FIELDS), parsed.fields);
    await requestUnblock(ctx, { lang: res.locals.lang, tenant: parsed.value.tenant, email: parsed.value.email, evidence: parsed.value.evidence });
    res.redirect(303, '/unblock/sent');
  });
  r.get('/unblock/sent', (_req, res) => res.render('delist/sent', { title: 'Check your email', ttlMinutes: ctx.policy.challenge.ttlMinutes }));

  const confirmLimit = limiter(ctx.redis, ctx.keys, 'unblock-confirm-client', ctx.policy.rateLimits.confirmPerClientIp);
  r.get('/unblock/confirm/:token', confirmLimit, async (req, res) => {
    const request = await viewUnblockConfirmation(ctx, String(req.params.token));
    res.set('Referrer-Policy', 'no-referrer').render('unblock/confirm', { title: 'Confirm the unblock request', request, token: String(req.params.token) });
  });
  r.post('/unblock/confirm/:token', confirmLimit, async (req, res) => {
    res.redirect(303, `/status/${await confirmUnblock(ctx, String(req.params.token))}`);
  });
  return r;
}
