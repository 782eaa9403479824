import { Router, type RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { clientKey, limiter } from '../../http/rate-limit.js';
import { confirmDelist, countInvalidDelist, requestDelist, viewConfirmation } from './service.js';
import { delistForm, echo, parseForm } from './schema.js';

/**
 * `POST /delist`, the busiest public form: its rate limits, cool-down and records take one Redis script
 * (stores/delist-intake.ts).
 */
function submitDelist(ctx: Context): RequestHandler {
  return async (req, res) => {
    const client = clientKey(req.ip);
    const parsed = parseForm(delistForm, req.body);
    if (!parsed.ok) {
      await countInvalidDelist(ctx, client);
      return res.status(400).render('delist/form', { title: 'Please check what you entered', values: echo(req.body, ['email', 'ip']), errors: parsed.fields });
    }
    await requestDelist(ctx, { email: parsed.value.email, ip: parsed.value.ip, lang: res.locals.lang }, new Date(), client);
    res.redirect(303, '/delist/sent');
  };
}

/** The public delist flow: form → neutral "check your email" → mailed link → Delist IP → status page. */
export function delistRoutes(ctx: Context): Router {
  const r = Router();
  const limits = ctx.policy.rateLimits;
  const { redis, keys } = ctx;

  r.get('/delist', (req, res) => {
    res.render('delist/form', { title: 'Remove an IP address from our blocked-senders list', values: echo(req.query, ['email', 'ip']), errors: {} });
  });

  r.post('/delist', submitDelist(ctx));

  r.get('/delist/sent', (_req, res) => {
    res.render('delist/sent', { title: 'Check your email', ttlMinutes: ctx.policy.challenge.ttlMinutes });
  });

  const confirmLimit = limiter(redis, keys, 'confirm-client', limits.confirmPerClientIp);

  r.get('/delist/confirm/:token', confirmLimit, async (req, res) => {
    const view = await viewConfirmation(ctx, String(req.params.token));
    res.set('Referrer-Policy', 'no-referrer');
    res.render('delist/confirm', { title: `Delist ${view.request.ip}`, view, token: String(req.params.token), policy: ctx.policy });
  });

  r.post('/delist/confirm/:token', confirmLimit, async (req, res) => {
    const id = await confirmDelist(ctx, String(req.params.token));
    res.redirect(303, `/status/${id}`);
  });

  return r;
}
