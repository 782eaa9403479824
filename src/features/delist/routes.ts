import { Router, type Request } from 'express';
import type { Context } from '../../context.js';
import { limiter } from '../../http/rate-limit.js';
import { confirmDelist, requestDelist, viewConfirmation } from './service.js';
import { delistForm, echo, parseForm, type DelistForm } from './schema.js';

const valid = (req: Request) => (req as Request & { delist: DelistForm }).delist;

/** The public delist flow: form → neutral "check your email" → mailed link → Delist IP → status page. */
export function delistRoutes(ctx: Context): Router {
  const r = Router();
  const limits = ctx.policy.rateLimits;
  const { redis, keys } = ctx;

  r.get('/delist', (req, res) => {
    res.render('delist/form', { title: 'Remove an IP address from our blocked-senders list', values: echo(req.query, ['email', 'ip']), errors: {} });
  });

  r.post(
    '/delist',
    limiter(redis, keys, 'delist-client', limits.delistPerClientIp),
    (req, res, next) => {
      const parsed = parseForm(delistForm, req.body);
      if (!parsed.ok) {
        return res.status(400).render('delist/form', { title: 'Please check what you entered', values: echo(req.body, ['email', 'ip']), errors: parsed.fields });
      }
      (req as Request & { delist: DelistForm }).delist = parsed.value;
      next();
    },
    limiter(redis, keys, 'delist-email', limits.delistPerEmail, (req) => valid(req).email),
    limiter(redis, keys, 'delist-target', limits.delistPerTargetIp, (req) => valid(req).ip),
    async (req, res) => {
      await requestDelist(ctx, { ...valid(req), lang: res.locals.lang });
      res.redirect(303, '/delist/sent');
    },
  );

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
