import { Router } from 'express';
import type { Context } from '../../context.js';

/** The landing page and a health check for load balancers. */
export function homeRoutes(ctx: Context): Router {
  const r = Router();
  r.get('/', (_req, res) => res.render('home', { title: 'Postmaster Portal' }));
  r.get('/healthz', async (_req, res) => {
    await ctx.redis.ping();
    res.set('Cache-Control', 'no-store').json({ ok: true });
  });
  return r;
}
