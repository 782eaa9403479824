import { Router } from 'express';
import { sql } from 'kysely';
import type { Context } from '../../context.js';

/** How long /healthz waits for each store before it calls it down. */
const HEALTH_TIMEOUT_MS = 2000;

/** Whether `check` answers within the timeout. */
async function answers(check: () => Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([check(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), HEALTH_TIMEOUT_MS)))]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** The landing page and a health check for load balancers: 200 when Redis and PostgreSQL answer, else 503 naming which. */
export function homeRoutes(ctx: Context): Router {
  const r = Router();
  r.get('/', (_req, res) => res.render('home', { title: 'Postmaster Portal' }));
  r.get('/healthz', async (_req, res) => {
    const [redis, database] = await Promise.all([answers(() => ctx.redis.ping()), answers(() => sql`SELECT 1`.execute(ctx.db))]);
    res.set('Cache-Control', 'no-store');
    if (redis && database) return res.json({ ok: true });
    res.status(503).json({ ok: false, redis, database });
  });
  return r;
}
