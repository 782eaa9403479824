import { Router, type RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { CHALLENGE_EMAIL, challengeLimiters, countOrShowForm, limiter } from '../../http/rate-limit.js';
import { useRequestLanguage } from '../../i18n/index.js';
import { isTokenShaped } from '../../stores/challenges.js';
import { confirmDelist, requestDelist, viewConfirmation } from './service.js';
import { delistForm, echo, parseForm, type DelistForm } from './schema.js';

/**
 * `POST /delist`: a form that does not validate is answered with what to fix and counts against no limit. A valid
 * one counts against the client, its target IP, its email (as normalised) and the challenge caps per recipient and
 * recipient domain, in that order (plain express-rate-limit middlewares, counters in Redis): at the first full
 * window the form comes back with what was typed and how long to wait, and no later limit counts it. Then the
 * request is recorded (service.ts).
 */
function submitDelist(ctx: Context): RequestHandler[] {
  const limits = ctx.policy.rateLimits;
  const { redis, keys } = ctx;
  const counted = [
    limiter(redis, keys, 'delist-client', limits.delistPerClientIp),
    limiter(redis, keys, 'delist-target', limits.delistPerTargetIp, (_req, res) => String(res.locals.delist.ip)),
    ...challengeLimiters(redis, keys, ctx.policy, 'delist-email', limits.delistPerEmail),
  ];
  const validate: RequestHandler = (req, res, next) => {
    const parsed = parseForm(delistForm, req.body);
    if (!parsed.ok) return res.status(400).render('delist/form', { title: 'Please check what you entered', values: echo(req.body, ['email', 'ip']), errors: parsed.fields });
    res.locals.delist = parsed.value;
    res.locals[CHALLENGE_EMAIL] = parsed.value.email;
    next();
  };
  return [
    validate,
    async (req, res) => {
      const values = echo(req.body, ['email', 'ip']);
      if (!(await countOrShowForm(counted, req, res, (limited) => res.render('delist/form', { title: 'Too many requests', values, errors: {}, limited })))) return;
      const form = res.locals.delist as DelistForm;
      await requestDelist(ctx, { email: form.email, ip: form.ip, lang: res.locals.lang });
      res.status(303).location('/delist/sent').end(); // no body to negotiate: a browser shows none
    },
  ];
}

/** The public delist flow: form → neutral "check your email" → mailed link → Delist IP → status page. */
export function delistRoutes(ctx: Context): Router {
  const r = Router();
  const limits = ctx.policy.rateLimits;
  const { redis, keys } = ctx;

  r.get('/delist', (req, res) => {
    res.render('delist/form', { title: 'Remove an IP address from our blocked-senders list', values: echo(req.query, ['email', 'ip']), errors: {} });
  });

  r.post('/delist', ...submitDelist(ctx));

  r.get('/delist/sent', (_req, res) => {
    res.render('delist/sent', { title: 'Check your email', ttlMinutes: ctx.policy.challenge.ttlMinutes });
  });

  // A link cut short (not token-shaped) is refused without counting; every real attempt counts (guessing).
  const confirmLimit = limiter(redis, keys, 'confirm-client', limits.confirmPerClientIp, undefined, (req) => !isTokenShaped(String(req.params.token)));

  r.get('/delist/confirm/:token', confirmLimit, async (req, res) => {
    const view = await viewConfirmation(ctx, String(req.params.token));
    useRequestLanguage(req, res, view.request.lang);
    res.set('Referrer-Policy', 'no-referrer');
    res.render('delist/confirm', { title: `Delist ${view.request.ip}`, view, token: String(req.params.token), policy: ctx.policy });
  });

  r.post('/delist/confirm/:token', confirmLimit, async (req, res) => {
    const id = await confirmDelist(ctx, String(req.params.token));
    res.redirect(303, `/status/${id}`);
  });

  return r;
}
