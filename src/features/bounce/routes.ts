import express, { Router, type RequestHandler, type Response } from 'express';
import type { Context } from '../../context.js';
import { NDR_MAX_CHARS } from '../../domain/ndr.js';
import { limiter } from '../../http/rate-limit.js';
import { languageOf, translator } from '../../i18n/index.js';
import { parseForm } from '../delist/schema.js';
import { BOUNCE_BODY_LIMIT_BYTES, BOUNCE_TEXTAREA_MAX, bounceForm } from './schema.js';
import { readBounce, type BounceAnswer } from './service.js';

const LIMIT_TEXT = `${BOUNCE_BODY_LIMIT_BYTES / 1024} kB`;

/**
 * The body parser of POST /bounce, mounted before the app's 16 kB one (app.ts): a pasted bounce message may be
 * larger than any other public form. Over BOUNCE_BODY_LIMIT_BYTES the answer is a 413 page in the visitor's language
 * that names the limit (body-parser has already drained the request by then; nothing of it was parsed).
 */
export function bounceBody(): RequestHandler {
  const parse = express.urlencoded({ extended: false, limit: BOUNCE_BODY_LIMIT_BYTES, parameterLimit: 5, inflate: false });
  return (req, res, next) =>
    parse(req, res, (err?: unknown) => {
      if ((err as { type?: string } | undefined)?.type !== 'entity.too.large') return next(err as Error | undefined);
      const lang = languageOf(req.get('cookie'), req.get('accept-language'));
      res.locals.lang = lang;
      res.locals.t = translator(lang);
      res.status(413).render('bounce/too-large', { limit: LIMIT_TEXT });
    });
}

const render = (res: Response, status: number, text: string, errors: Record<string, string>, answer: BounceAnswer | null) =>
  res.status(status).render('bounce/form', { values: { text: text.slice(0, NDR_MAX_CHARS) }, errors, answer, maxChars: BOUNCE_TEXTAREA_MAX, readChars: NDR_MAX_CHARS });

/**
 * `/bounce`: a sender pastes the bounce message they received; we say what its status code means and what to do,
 * with the way into the delist flow (IP filled in), a staff request, or the tenant unblock checklist when it is ours.
 * An empty form is answered before the rate limit counts it; the text is read, never stored or logged.
 */
export function bounceRoutes(ctx: Context): Router {
  const r = Router();
  r.get('/bounce', (_req, res) => render(res, 200, '', {}, null));

  const validate: RequestHandler = (req, res, next) => {
    const parsed = parseForm(bounceForm, req.body);
    const text = typeof req.body?.text === 'string' ? (req.body.text as string) : '';
    if (!parsed.ok) return render(res, 400, text, parsed.fields, null);
    res.locals.bounceText = parsed.value.text;
    next();
  };

  r.post('/bounce', validate, limiter(ctx.redis, ctx.keys, 'bounce-client', ctx.policy.rateLimits.bouncePerClientIp), async (_req, res) => {
    const text = res.locals.bounceText as string;
    const answer = await readBounce(ctx, text);
    res.set('Cache-Control', 'no-store');
    render(res, 200, text, {}, answer);
  });
  return r;
}
