import { Router } from 'express';
import type { Context } from '../../context.js';
import { AppError, NotFoundError } from '../../errors.js';
import { limiter } from '../../http/rate-limit.js';
import { isLanguage, translator, useRequestLanguage } from '../../i18n/index.js';
import { FINAL_STATES } from '../../stores/requests.js';
import { publicStatus } from './labels.js';
import { liveStatus, REQUEST_ID } from './live.js';

/**
 * `/status/:id`: a request's timeline as a page (followed by public/live-status.js until final; a meta refresh
 * without JavaScript) or as JSON. `/status/:id.json` is what the script follows: the page's changing text (live.ts).
 * All are public (the id is the capability) and render from publicStatus only: no other request's id, nobody's
 * identity but the requester's own masked address. They share one per-client limit.
 */
export function statusRoutes(ctx: Context): Router {
  const r = Router();
  const limit = limiter(ctx.redis, ctx.keys, 'status-client', ctx.policy.rateLimits.statusPerClientIp);

  // Registered first: `/status/:id` would take `<id>.json` as an id. `?lng=` asks for the page's language without
  // setting the visitor's language cookie (as `?lang=` does): the script asks in the language its page is in.
  r.get('/status/:id.json', limit, async (req, res) => {
    const id = String(req.params.id);
    if (!REQUEST_ID.test(id)) throw new AppError(400, 'BAD_REQUEST', 'This is not a request number. Check the address from your email.');
    const request = await ctx.requests.get(id);
    if (!request) throw new NotFoundError('We have no request with this number. Check the address from your email.');
    const lng = isLanguage(req.query.lng) ? req.query.lng : !res.locals.langChosen && isLanguage(request.lang) ? request.lang : res.locals.lang;
    const t = lng === res.locals.lang ? res.locals.t : translator(lng);
    const view = publicStatus(t, request, await ctx.requests.events(request.id));
    res.set('Cache-Control', 'no-store').json(liveStatus(t, lng, view));
  });

  r.get('/status/:id', limit, async (req, res) => {
    const request = await ctx.requests.get(String(req.params.id));
    if (!request) throw new NotFoundError('We have no request with this number. Check the address from your email.');
    useRequestLanguage(req, res, request.lang);
    const view = publicStatus(res.locals.t, request, await ctx.requests.events(request.id));
    res.set('Cache-Control', 'no-store');
    res.format({
      html: () =>
        res.render('status/show', {
          title: `Request ${view.id}`,
          request: view,
          email: view.email,
          final: FINAL_STATES.includes(view.state),
          live: liveStatus(res.locals.t, res.locals.lang, view),
        }),
      json: () => res.json({ id: view.id, type: view.type, state: view.state, ip: view.ip, reason: view.reason || null, events: view.events }),
    });
  });
  return r;
}
