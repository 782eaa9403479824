import type { NextFunction, Request, RequestHandler } from 'express';
import { AppError, PayloadTooLargeError, ValidationError } from '../errors.js';

const FORM = /^\s*application\/x-www-form-urlencoded\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/**
 * The body of an HTML form (`application/x-www-form-urlencoded`, UTF-8): `req.body` becomes an object without a
 * prototype, a repeated field an array of its values, as with express.urlencoded. Answers as body-parser does:
 * 413 over `limit` bytes or `parameterLimit` fields, 415 for another charset or a compressed body (browsers
 * send neither), 400 for a body that breaks off.
 *
 * Own code rather than express.urlencoded: on the delist form, body-parser's machinery (type and charset
 * parsing twice, a decoder stream, async hooks, qs) cost 13 % of the web role's CPU per request; this is a
 * stream read and URLSearchParams (see README, load bench).
 */
export function formBody(opts: { limit: number; parameterLimit: number }): RequestHandler {
  return (req, _res, next) => {
    const type = req.headers['content-type'];
    if ((req as { _body?: boolean })._body || type === undefined || !FORM.test(type)) return next();
    const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return refuse(req, next, new AppError(415, 'UNSUPPORTED_CHARSET', 'Send the form as UTF-8.'));
    const encoding = req.headers['content-encoding']?.toLowerCase();
    if (encoding !== undefined && encoding !== 'identity') return refuse(req, next, new AppError(415, 'UNSUPPORTED_ENCODING', 'This content encoding is not supported.'));
    if (Number(req.headers['content-length'] ?? 0) > opts.limit) return refuse(req, next, new PayloadTooLargeError());

    // One body usually arrives in one chunk; later events after `settle` find it settled and do nothing (the
    // listeners go with the request).
    let first: Buffer | undefined;
    let more: Buffer[] | undefined;
    let size = 0;
    let settled = false;
    const settle = (err?: () => Error) => {
      if (settled) return;
      settled = true;
      if (err) return refuse(req, next, err());
      const text = more ? Buffer.concat(more, size).toString('utf8') : (first?.toString('utf8') ?? '');
      let fields = 0;
      const body: Record<string, string | string[]> = Object.create(null);
      for (const [name, value] of new URLSearchParams(text)) {
        if (++fields > opts.parameterLimit) return next(new PayloadTooLargeError('A form may have at most ' + opts.parameterLimit + ' fields.'));
        const seen = body[name];
        body[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
      }
      req.body = body;
      (req as { _body?: boolean })._body = true;
      next();
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > opts.limit) return settle(() => new PayloadTooLargeError());
      if (first === undefined) first = chunk;
      else (more ??= [first]).push(chunk);
    });
    req.on('end', () => settle());
    req.on('error', () => settle(() => new ValidationError('The request body could not be read.')));
    req.on('close', () => settle(() => new ValidationError('The request body broke off.')));
    if (req.readableEnded) settle(); // read to its end already (nothing more will come)
  };
}

/** Answers with `err` and lets the rest of the body drain, so a kept-alive connection stays usable. */
function refuse(req: Request, next: NextFunction, err: Error): void {
  req.resume();
  next(err);
}
