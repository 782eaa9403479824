import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { CHALLENGE_EMAIL, challengeLimiters, countOrShowForm, limiter } from '../../http/rate-limit.js';
import { useRequestLanguage } from '../../i18n/index.js';
import { isTokenShaped } from '../../stores/challenges.js';
import { echo, parseForm } from '../delist/schema.js';
import { tenantId } from '../pools/service.js';
import { confirmUnblock, requestUnblock, viewUnblockConfirmation } from './service.js';

const checked = (message: string) => z.literal('on', { message });

/** Messages are keys the views translate (src/i18n/locales/*.json, `errors.*`). */
const unblockForm = z.object({
  tenant: z.string().min(1, 'errors.tenant.required').refine((v) => tenantId.safeParse(v).success, { message: 'errors.tenant.invalid' }),
  email: z.string().trim().min(1, 'errors.email.requiredAdmin').max(254, 'errors.email.tooLong').pipe(z.email({ message: 'errors.email.invalid' })).transform((e) => e.toLowerCase()),
  domainsRegistered: checked('errors.unblock.domainsRegistered'),
  connectorsReviewed: checked('errors.unblock.connectorsReviewed'),
  serversLockedDown: checked('errors.unblock.serversLockedDown'),
  evidence: z.string().trim().min(20, 'errors.evidence.tooShort').max(5000, 'errors.evidence.tooLong'),
});

const FIELDS = ['tenant', 'email', 'domainsRegistered', 'connectorsReviewed', 'serversLockedDown', 'evidence'];

/** The public tenant unblock request (seeds/unregistered-domain-email): checklist + evidence → email challenge → ticket. */
export function unblockRoutes(ctx: Context): Router {
  const r = Router();
  const render = (res: Parameters<Parameters<Router['get']>[1]>[1], status: number, values: Record<string, string>, errors: Record<string, string>, limited?: { minutes: number }) =>
    res.status(status).render('unblock/form', { title: 'Unblock a tenant blocked from sending from unregistered domains', values, errors, limited });

  r.get('/unblock', (req, res) => render(res, 200, echo(req.query, FIELDS), {}));
  // Counted once the form validated (a typo counts against nothing): the client, then the challenge limits.
  const unblockLimits = [limiter(ctx.redis, ctx.keys, 'unblock-client', ctx.policy.rateLimits.delistPerClientIp), ...challengeLimiters(ctx.redis, ctx.keys, ctx.policy, 'unblock-email', ctx.policy.rateLimits.unblockPerEmail)];
  r.post('/unblock', async (req, res) => {
    const values = echo(req.body, FIELDS);
    const parsed = parseForm(unblockForm, req.body);
    if (!parsed.ok) return render(res, 400, values, parsed.fields);
    res.locals[CHALLENGE_EMAIL] = parsed.value.email;
    if (!(await countOrShowForm(unblockLimits, req, res, (limited) => render(res, 429, values, {}, limited)))) return;
    await requestUnblock(ctx, { lang: res.locals.lang, tenant: parsed.value.tenant, email: parsed.value.email, evidence: parsed.value.evidence });
    res.redirect(303, '/unblock/sent');
  });
  r.get('/unblock/sent', (_req, res) => res.render('unblock/sent', { title: 'Check your email', ttlMinutes: ctx.policy.challenge.ttlMinutes }));

  const confirmLimit = limiter(ctx.redis, ctx.keys, 'unblock-confirm-client', ctx.policy.rateLimits.confirmPerClientIp, undefined, (req) => !isTokenShaped(String(req.params.token)));
  r.get('/unblock/confirm/:token', confirmLimit, async (req, res) => {
    const request = await viewUnblockConfirmation(ctx, String(req.params.token));
    useRequestLanguage(req, res, request.lang);
    res.set('Referrer-Policy', 'no-referrer').render('unblock/confirm', { title: 'Confirm the unblock request', request, token: String(req.params.token) });
  });
  r.post('/unblock/confirm/:token', confirmLimit, async (req, res) => {
    res.redirect(303, `/status/${await confirmUnblock(ctx, String(req.params.token))}`);
  });
  return r;
}
