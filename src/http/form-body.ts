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

    // One body usually arrives in one chunk. The three listeners are one-line closures over one state object;
    // later events after it settled do nothing (the listeners go with the request). No 'error' listener: a
    // request stream emits 'error' only to listeners, and 'close' follows every error.
    const read: Read = { req, next, limit: opts.limit, parameterLimit: opts.parameterLimit, first: undefined, more: undefined, size: 0, settled: false };
    req.on('data', (chunk: Buffer) => onData(read, chunk));
    req.on('end', () => settle(read));
    req.on('close', () => settle(read, BROKE_OFF));
    if (req.readableEnded) settle(read); // read to its end already (nothing more will come)
  };
}

interface Read {
  req: Request;
  next: NextFunction;
  limit: number;
  parameterLimit: number;
  first: Buffer | undefined;
  more: Buffer[] | undefined;
  size: number;
  settled: boolean;
}

const TOO_LARGE = () => new PayloadTooLargeError();
const BROKE_OFF = () => new ValidationError('The request body broke off.');

function onData(read: Read, chunk: Buffer): void {
  if (read.settled) return;
  read.size += chunk.length;
  if (read.size > read.limit) return settle(read, TOO_LARGE);
  if (read.first === undefined) read.first = chunk;
  else (read.more ??= [read.first]).push(chunk);
}

/** Ends the read once: with the error `err` makes, else with `req.body` set from the fields. */
function settle(read: Read, err?: () => Error): void {
  if (read.settled) return;
  read.settled = true;
  const { req, next } = read;
  if (err) return refuse(req, next, err());
  const text = read.more ? Buffer.concat(read.more, read.size).toString('utf8') : (read.first?.toString('utf8') ?? '');
  let fields = 0;
  const body: Record<string, string | string[]> = Object.create(null);
  for (const [name, value] of new URLSearchParams(text)) {
    if (++fields > read.parameterLimit) return next(new PayloadTooLargeError('A form may have at most ' + read.parameterLimit + ' fields.'));
    const seen = body[name];
    body[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  req.body = body;
  (req as { _body?: boolean })._body = true;
  next();
}

/** Answers with `err` and lets the rest of the body drain, so a kept-alive connection stays usable. */
function refuse(req: Request, next: NextFunction, err: Error): void {
  req.resume();
  next(err);
}
