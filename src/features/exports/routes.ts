import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip } from 'node:zlib';
import { Router, type Request, type Response } from 'express';
import type { Context } from '../../context.js';
import { requireApiToken } from '../../http/api-auth.js';
import type { Snapshot } from '../../stores/routing.js';
import { newStats } from './common.js';
import { EXPORT_FORMATS, exportChunks, exportEtag, type ExportFormat } from './service.js';

/** The entity tags of an If-None-Match header (weak ones compared by their opaque part, as RFC 9110 says for GET). */
function ifNoneMatch(header: string | undefined): { any: boolean; tags: string[] } | null {
  if (!header) return null;
  const tags = header.split(',').map((t) => t.trim().replace(/^W\//, '')).filter(Boolean);
  return { any: tags.includes('*'), tags };
}

const clientWentAway = (err: unknown) => (err as { code?: string }).code === 'ERR_STREAM_PREMATURE_CLOSE';

/**
 * The routing engine's ready-to-serve files: `GET /api/v1/exports/rbldnsd` (an rbldnsd combined dataset) and
 * `GET /api/v1/exports/postfix` (a Postfix cidr table). Bearer token; built from one snapshot version; ETag per
 * version (+ expiries since, + coding) and 304 on If-None-Match, checked before anything is built; streamed in
 * ~64 KB chunks with backpressure, gzip when the client accepts it.
 */
export function exportRoutes(ctx: Context): Router {
  const r = Router();
  const auth = requireApiToken(ctx.apiTokens);

  const serve = (format: ExportFormat) => async (req: Request, res: Response) => {
    const gzip = req.acceptsEncodings('gzip', 'identity') === 'gzip';
    const now = new Date();
    res.set('Cache-Control', 'no-cache');
    res.vary('Accept-Encoding');

    let snapshot: Snapshot | undefined;
    const conditional = ifNoneMatch(req.get('if-none-match'));
    if (conditional) {
      // The version alone (one GET) tells whether the client's copy can still be current.
      const version = await ctx.routing.version();
      if (conditional.any || conditional.tags.some((t) => t.startsWith(`"v${version}-`))) {
        snapshot = await ctx.routing.snapshot();
        const tag = exportEtag(format, snapshot, now, gzip);
        if (conditional.any || conditional.tags.includes(tag)) {
          res.set('ETag', tag);
          return res.status(304).end();
        }
      }
    }
    snapshot ??= await ctx.routing.snapshot();

    res.status(200).set({
      'Content-Type': 'text/plain; charset=utf-8',
      ETag: exportEtag(format, snapshot, now, gzip),
      'X-Routing-Version': String(snapshot.version),
    });
    if (gzip) res.set('Content-Encoding', 'gzip');
    if (req.method === 'HEAD') return res.end();

    const stats = newStats();
    const source = Readable.from(exportChunks(ctx, format, snapshot, now, stats));
    try {
      if (gzip) await pipeline(source, createGzip({ level: constants.Z_BEST_SPEED }), res);
      else await pipeline(source, res);
      ctx.logger.debug({ format, version: snapshot.version, gzip, ...stats }, 'export served');
    } catch (err) {
      // Headers are gone by now: all that is left is to cut the response so the client sees it incomplete.
      if (!clientWentAway(err)) ctx.logger.error({ err, format, version: snapshot.version }, 'export failed while streaming');
      res.destroy();
    }
  };

  for (const format of EXPORT_FORMATS) r.get(`/api/v1/exports/${format}`, auth, serve(format));
  return r;
}
