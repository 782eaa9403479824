import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';

const filters = z.object({
  actor: z.string().trim().max(254).optional().catch(undefined),
  action: z.string().trim().max(100).optional().catch(undefined),
  target: z.string().trim().max(254).optional().catch(undefined),
});

/** The audit log, newest first, filtered by actor, action and target (read from the newest 5000 entries). */
export function auditPage(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = filters.parse(req.query);
    const has = (value: string, needle?: string) => !needle || value.toLowerCase().includes(needle.toLowerCase());
    const entries = (await ctx.audit.recent(5000)).filter((e) => has(e.actor, f.actor) && has(e.action, f.action) && has(e.target, f.target)).slice(0, 200);
    res.render('staff/audit', { title: 'Audit log', f, entries });
  };
}
