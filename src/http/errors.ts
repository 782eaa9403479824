import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, NotFoundError, PayloadTooLargeError, RateLimitedError, UnavailableError, ValidationError } from '../errors.js';
import type { Logger } from '../logger.js';
import { languageOf, translator } from '../i18n/index.js';

/** The one 404: an HTML page, or JSON for the API and clients that ask for it. */
export const notFound: RequestHandler = (_req, _res, next) => next(new NotFoundError());

/**
 * The staff area answers at /staff only, in lower case: its session cookie is scoped to path /staff, and cookie
 * paths are case-sensitive, so under /STAFF or /Staff there would never be a session (express's routers match paths
 * in any case). Any other spelling of the prefix is a 404.
 */
export const onlyLowerCaseStaff: RequestHandler = (req, _res, next) => {
  const path = req.path;
  if (path.length >= 6 && !path.startsWith('/staff') && /^\/staff(?:\/|$)/i.test(path)) return next(new NotFoundError());
  next();
};

/** body-parser and friends signal bad input with a status and a type; keep their meaning, never their text. */
function fromFrameworkError(err: { status?: number; type?: string }): AppError | null {
  if (err.type === 'entity.too.large') return new PayloadTooLargeError();
  if (err.type === 'parameters.too.many') return new PayloadTooLargeError('This form has more fields than we accept.');
  if (err.type === 'entity.parse.failed') return new ValidationError('The request body could not be read.');
  if (err.type === 'charset.unsupported') return new AppError(415, 'UNSUPPORTED_CHARSET', 'This character set is not supported; please send UTF-8.');
  if (err.type === 'encoding.unsupported') return new AppError(415, 'UNSUPPORTED_ENCODING', 'This content encoding is not supported.');
  if (typeof err.status === 'number' && err.status >= 400 && err.status < 500) return new AppError(err.status, 'BAD_REQUEST', 'The request could not be understood.');
  return null;
}

const isRedisDown = (err: unknown) => {
  const e = err as { code?: string; name?: string; message?: string };
  return e.name === 'MaxRetriesPerRequestError' || e.code === 'ECONNREFUSED' || /Connection is closed|Stream isn't writeable/.test(e.message ?? '');
};

/** Socket-level failures of either store (a server that is gone, restarting, or unreachable). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * PostgreSQL is down, restarting or recovering: SQLSTATE class 08 (connection exception), 57P01–57P03 (shut down,
 * crashed, not accepting connections yet: "the database system is in recovery mode"), 53300 (too many connections),
 * or node-postgres losing its connection ("Connection terminated unexpectedly", a pool connect timeout).
 */
const isDatabaseDown = (err: unknown) => {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && (e.code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(e.code) || NETWORK_CODES.has(e.code))) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/.test(e?.message ?? '');
};

const isStoreDown = (err: unknown) => isRedisDown(err) || isDatabaseDown(err);

/**
 * Turns every error into a readable page or `{error, code, details}`; internals never reach the public. It never
 * throws or passes an error on (express's own handler would print a stack trace): if answering fails, or the answer
 * had already begun, the connection is closed after logging.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  const answer = answerError(logger);
  return (err, req, res, next) => {
    if (res.headersSent) {
      logger.error({ err, path: req.path }, 'request failed after the answer began');
      res.destroy();
      return;
    }
    try {
      answer(err, req, res, next);
    } catch (failure) {
      logger.error({ err: failure, original: err, path: req.path }, 'error page failed');
      if (res.headersSent) res.destroy();
      else res.status(500).type('text/plain').send('Something went wrong on our side.\n');
    }
  };
}

function answerError(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let e: AppError;
    if (err instanceof AppError) e = err;
    else if (isStoreDown(err)) e = new UnavailableError();
    else e = fromFrameworkError(err) ?? new AppError(500, 'INTERNAL', 'Something went wrong on our side. It has been logged; please try again later.');
    if (e.status >= 500) logger.error({ err, path: req.path }, 'request failed');
    if (e instanceof RateLimitedError) res.set('Retry-After', String(e.retryAfterSeconds));
    if (e instanceof UnavailableError) res.set('Retry-After', '30');
    res.status(e.status);
    // An error raised before the language was chosen (a body too large, say) still gets a translated page.
    if (!res.locals.t) {
      res.locals.lang = languageOf(req.get('cookie'), req.get('accept-language'));
      res.locals.t = translator(res.locals.lang);
    }
    const json = () => res.json({ error: e.message, code: e.code, ...(e.details !== undefined && { details: e.details }) });
    if (req.path.startsWith('/api/')) return json();
    // The staff console keeps its own frame: the error, the field it is about, and the way back to the page.
    const staff = /^\/staff(\/|$)/i.test(req.path) && req.path.toLowerCase() !== '/staff/login';
    res.format({
      html: () =>
        res.render(staff ? 'staff/error' : 'error', { title: titleOf(e.status), error: e, ...(staff && { back: staffBackLink(req.get('referer')) }) }, (renderErr, html) => {
          if (!renderErr) return res.send(html);
          logger.error({ err: renderErr, path: req.path }, 'error page failed');
          res.type('text/plain').send(`${e.status < 500 ? e.message : 'Something went wrong on our side.'}\n`);
        }),
      json,
      default: () => res.type('text/plain').send(`${e.message}\n`),
    });
  };
}

/** The staff page a console error links back to: the Referer when it is a console page, else the queue. */
function staffBackLink(referer: string | undefined): string {
  try {
    const url = new URL(referer ?? '', 'http://portal.invalid');
    if (/^\/staff(\/|$)/.test(url.pathname) && !url.pathname.includes('//')) return url.pathname + url.search;
  } catch {
    // not a URL
  }
  return '/staff';
}

function titleOf(status: number): string {
  const titles: Record<number, string> = { 400: 'Please check what you entered', 401: 'Sign-in needed', 403: 'Not allowed', 404: 'Not found', 410: 'This link can no longer be used', 413: 'Too large', 415: 'Not supported', 429: 'Too many requests', 503: 'Briefly unavailable' };
  return titles[status] ?? 'Something went wrong';
}
