import { Router } from 'express';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { IpInputError, parseAddress } from '../../domain/ip.js';
import type { BlockEntry } from '../../domain/listing.js';
import { GoneError, ValidationError } from '../../errors.js';
import { requireApiToken } from '../../http/api-auth.js';
import { publicKeyPem, SIGNATURE_HEADER, signatureHeader, signingKeyFrom } from '../../domain/signing.js';
import { limiter } from '../../http/rate-limit.js';

const feedQuery = z.object({
  after: z.string().regex(/^\d{1,15}$/, 'after must be a version number (0 or more)').transform(Number),
  limit: z.string().regex(/^\d{1,4}$/).transform(Number).pipe(z.number().int().min(1).max(5000)).optional(),
});

const etagOf = (version: number) => `"v${version}"`;

/**
 * What anyone may know of a listing: its range, category, the category's public reason (policy) and its dates.
 * Never the operator's own reason text, note or source.
 */
function publicEntry(ctx: Context, e: BlockEntry) {
  return { cidr: e.cidr, category: e.category, reason: ctx.policy.categories[e.category]?.reason ?? null, listedAt: e.listedAt, expiresAt: e.expiresAt };
}

/** The machine API the routing engine reads: snapshot (ETag/304), change feed (410 once trimmed), and check. */
export function routingApiRoutes(ctx: Context): Router {
  const r = Router();
  const auth = requireApiToken(ctx.apiTokens);

  // The signed body of the latest version, built (by the store) and signed once per version: clients verify these exact bytes.
  const key = signingKeyFrom({ snapshotSigningKey: ctx.config.snapshotSigningKey, secret: ctx.config.secret });
  let signed: { version: number; body: Buffer; signature: string } | null = null;

  r.get('/api/v1/routing/snapshot', auth, async (req, res) => {
    res.set('Cache-Control', 'no-cache');
    const current = etagOf(await ctx.routing.version());
    const ifNoneMatch = req.get('if-none-match');
    if (ifNoneMatch && ifNoneMatch.split(',').map((t) => t.trim()).includes(current)) {
      res.set('ETag', current);
      return res.status(304).end();
    }
    const snapshot = await ctx.routing.snapshotBody();
    if (!signed || signed.version !== snapshot.version) signed = { version: snapshot.version, body: snapshot.bytes, signature: signatureHeader(snapshot.bytes, key) };
    res.set({ ETag: etagOf(signed.version), [SIGNATURE_HEADER]: signed.signature, 'Content-Type': 'application/json; charset=utf-8' }).send(signed.body);
  });

  r.get('/api/v1/routing/public-key', (_req, res) => {
    res.set({ 'Content-Type': 'application/x-pem-file', 'Cache-Control': 'public, max-age=300' }).send(publicKeyPem(key));
  });

  r.get('/api/v1/routing/feed', auth, async (req, res) => {
    const parsed = feedQuery.safeParse(req.query);
    if (!parsed.success) throw new ValidationError('Give the last version you have: /api/v1/routing/feed?after=<version>.', { after: parsed.error.issues[0]?.message ?? 'invalid' });
    const page = await ctx.routing.feed(parsed.data.after, parsed.data.limit);
    if (page.gone) {
      throw new GoneError('FEED_VERSION_GONE', `Version ${parsed.data.after} is no longer in the feed; read the snapshot again.`, { version: page.version, snapshot: '/api/v1/routing/snapshot' });
    }
    res.set('Cache-Control', 'no-cache').json({ after: parsed.data.after, version: page.version, entries: page.entries, hasMore: page.hasMore });
  });

  r.get('/api/v1/blocklist/check/:ip', limiter(ctx.redis, ctx.keys, 'api-check-client', ctx.policy.rateLimits.apiCheckPerClientIp), async (req, res) => {
    let addr;
    try {
      addr = parseAddress(String(req.params.ip));
    } catch (err) {
      throw new ValidationError(err instanceof IpInputError ? err.message : 'Not a valid IP address.', { ip: 'invalid' });
    }
    const verdict = await ctx.blocklist.lookup(addr);
    res.set('Cache-Control', 'no-cache').json({ ip: addr.text, listed: verdict.listed, ...(verdict.listed && verdict.listing && { entry: publicEntry(ctx, verdict.listing) }) });
  });

  return r;
}
