import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';

const filters = z.object({
  actor: z.string().trim().max(254).optional().catch(undefined),
  action: z.string().trim().max(100).optional().catch(undefined),
  target: z.string().trim().max(254).optional().catch(undefined),
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().catch(undefined),
});

const PAGE = 200;

/**
 * The audit log, newest first, 200 entries a page, filtered by exact actor, action and target (each an index with the
 * id, so a filter reads only its rows however long the log is); `before` pages on to older entries.
 */
export function auditPage(ctx: Context): RequestHandler {
  return async (req, res) => {
    const f = filters.parse(req.query);
    const rows = await ctx.audit.page({ ...(f.actor && { actor: f.actor }), ...(f.action && { action: f.action }), ...(f.target && { target: f.target }), ...(f.before && { beforeId: f.before }) }, PAGE + 1);
    const entries = rows.slice(0, PAGE);
    const older = rows.length > PAGE ? entries[entries.length - 1]!.id : null;
    res.render('staff/audit', { title: 'Audit log', f, entries, older });
  };
}
