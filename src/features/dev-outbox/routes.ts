import { Router } from 'express';
import type { Context } from '../../context.js';
import { readOutbox } from '../../mail/mailer.js';

/** `/dev/outbox`: the mail that would have been sent, when no SMTP_URL is set. Never mounted in production. */
export function devOutboxRoutes(ctx: Context): Router {
  const r = Router();
  r.get('/dev/outbox', async (_req, res) => {
    const messages = await readOutbox(ctx.redis, ctx.keys);
    const linkOf = (text: string) => /(https?:\/\/\S+\/(?:delist\/confirm|status)\/\S+)/.exec(text)?.[1] ?? null;
    res.set('Cache-Control', 'no-store');
    res.render('dev/outbox', { title: 'Development outbox', messages: messages.map((m) => ({ ...m, link: linkOf(m.text) })) });
  });
  return r;
}
