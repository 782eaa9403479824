import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { RequestHandler } from 'express';
import type { Context } from '../../context.js';

/**
 * The job dashboard (@bull-board) at /staff/queues, for admins (the staff router guards it). Its UI injects its
 * own styles, so this one path allows inline styles; scripts stay 'self' only.
 */
export function jobDashboard(ctx: Context): RequestHandler {
  const adapter = new ExpressAdapter().setBasePath('/staff/queues');
  createBullBoard({
    queues: [ctx.jobs.requests, ctx.jobs.mail, ctx.jobs.maintenance].map((q) => new BullMQAdapter(q)),
    serverAdapter: adapter,
    // A way back: the console's pages, in the dashboard's own header menu.
    options: { uiConfig: { boardTitle: 'Postmaster jobs', miscLinks: [{ text: '← Back to the staff console', url: '/staff' }, { text: 'Lists', url: '/staff/lists' }, { text: 'Audit log', url: '/staff/audit' }] } },
  });
  const router = adapter.getRouter() as RequestHandler;
  return (req, res, next) => {
    res.set('Content-Security-Policy', "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'");
    router(req, res, next);
  };
}
