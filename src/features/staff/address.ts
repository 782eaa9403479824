import type { RequestHandler } from 'express';
import type { Context } from '../../context.js';
import { selfDelistsLeft } from '../../domain/delist-policy.js';
import { IpInputError, parseAddress } from '../../domain/ip.js';
import { ValidationError } from '../../errors.js';

const DAY_MS = 86_400_000;

/**
 * Everything the desk knows about one address, listed now or not: its verdict, every listing, removal, exclusion
 * and self-delisting of it or of a range around it (who, when, why), every request that named it, the reports of
 * mail that left us from it, and its self-delist budget.
 */
export function addressPage(ctx: Context): RequestHandler {
  return async (req, res) => {
    let addr;
    try {
      addr = parseAddress(String(req.params.ip ?? '').slice(0, 100));
    } catch (err) {
      throw new ValidationError(err instanceof IpInputError ? err.message : 'Not a valid IP address.', { ip: 'Give an IPv4 or IPv6 address.' });
    }
    const now = new Date();
    const since = new Date(now.getTime() - ctx.policy.selfDelist.windowDays * DAY_MS);
    const [verdict, history, requests, reports, used, ever] = await Promise.all([
      ctx.blocklist.lookup(addr, now),
      ctx.blocklist.historyContaining(addr),
      ctx.requests.aboutIp(addr.text),
      ctx.reportCounter.fromSource(addr.text),
      ctx.blocklist.selfDelistsSince(addr.text, since),
      ctx.blocklist.selfDelistsEver(addr.text),
    ]);
    res.render('staff/address', {
      title: `Address ${addr.text}`,
      ip: addr.text,
      verdict,
      history,
      requests,
      reports,
      budget: { used, left: selfDelistsLeft(ctx.policy, used), max: ctx.policy.selfDelist.maxPerWindow, windowDays: ctx.policy.selfDelist.windowDays, ever },
    });
  };
}
