import { Router } from 'express';
import type { Context } from '../../context.js';
import { NotFoundError } from '../../errors.js';
import { FINAL_STATES } from '../../stores/requests.js';
import { STATE_LABELS } from './labels.js';

const maskEmail = (email: string) => email.replace(/^(.).*(@.*)$/, '$1…$2');

/** `/status/:id`: a request's timeline as a page (refreshing itself until final) or as JSON. */
export function statusRoutes(ctx: Context): Router {
  const r = Router();
  r.get('/status/:id', async (req, res) => {
    const request = await ctx.requests.get(req.params.id);
    if (!request) throw new NotFoundError('We have no request with this number. Check the address from your email.');
    const events = await ctx.requests.events(request.id);
    res.set('Cache-Control', 'no-store');
    res.format({
      html: () =>
        res.render('status/show', {
          title: `Request ${request.id}`,
          request,
          email: maskEmail(request.email),
          events,
          labels: STATE_LABELS,
          final: FINAL_STATES.includes(request.state),
        }),
      json: () => res.json({ id: request.id, type: request.type, state: request.state, ip: request.ip, reason: request.reason ?? null, events }),
    });
  });
  return r;
}
