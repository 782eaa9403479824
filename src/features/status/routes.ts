import { Router } from 'express';
import type { Context } from '../../context.js';
import { NotFoundError } from '../../errors.js';
import { limiter } from '../../http/rate-limit.js';
import { FINAL_STATES } from '../../stores/requests.js';
import { publicStatus, STATE_LABELS } from './labels.js';

/**
 * `/status/:id`: a request's timeline as a page (refreshing itself until final) or as JSON. Both are public (the
 * id is the capability) and render from publicStatus only: no other request's id, nobody's identity but the
 * requester's own masked address.
 */
export function statusRoutes(ctx: Context): Router {
  const r = Router();
  r.get('/status/:id', limiter(ctx.redis, ctx.keys, 'status-client', ctx.policy.rateLimits.statusPerClientIp), async (req, res) => {
    const request = await ctx.requests.get(String(req.params.id));
    if (!request) throw new NotFoundError('We have no request with this number. Check the address from your email.');
    const view = publicStatus(res.locals.t, request, await ctx.requests.events(request.id));
    res.set('Cache-Control', 'no-store');
    res.format({
      html: () =>
        res.render('status/show', {
          title: `Request ${view.id}`,
          request: view,
          email: view.email,
          events: view.events,
          labels: STATE_LABELS,
          final: FINAL_STATES.includes(view.state),
        }),
      json: () => res.json({ id: view.id, type: view.type, state: view.state, ip: view.ip, reason: view.reason || null, events: view.events }),
    });
  });
  return r;
}
