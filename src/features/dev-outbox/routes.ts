import { Router, type Request } from 'express';
import ipaddr from 'ipaddr.js';
import type { Context } from '../../context.js';
import { NotFoundError } from '../../errors.js';
import { readOutbox } from '../../mail/mailer.js';

/**
 * True for a request from a browser on this machine: the connection comes from a loopback address and nothing
 * forwarded it (a reverse proxy on this machine connects from loopback too, on behalf of anyone).
 */
export function fromThisMachine(req: Pick<Request, 'socket' | 'headers'>): boolean {
  const h = req.headers;
  if (h['x-forwarded-for'] !== undefined || h.forwarded !== undefined || h['x-real-ip'] !== undefined) return false;
  const remote = req.socket.remoteAddress;
  if (!remote || !ipaddr.isValid(remote)) return false;
  return ipaddr.process(remote).range() === 'loopback';
}

/**
 * `/dev/outbox`: the mail that would have been sent, when no SMTP_URL is set. Mounted only outside production, and
 * answering only requests from this machine (else 404): challenge links in it are as good as the inbox they went to.
 */
export function devOutboxRoutes(ctx: Context): Router {
  const r = Router({ caseSensitive: true });
  r.get('/dev/outbox', async (req, res) => {
    if (!fromThisMachine(req)) throw new NotFoundError();
    const messages = await readOutbox(ctx.redis, ctx.keys);
    const linkOf = (text: string) => /(https?:\/\/\S+\/(?:delist\/confirm|status)\/\S+)/.exec(text)?.[1] ?? null;
    res.set('Cache-Control', 'no-store');
    res.render('dev/outbox', { title: 'Development outbox', messages: messages.map((m) => ({ ...m, link: linkOf(m.text) })) });
  });
  return r;
}
