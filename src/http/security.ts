import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { ServerResponse, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import type { Express, NextFunction, Request, RequestHandler, Response } from 'express';
import { parse as parseCookies } from 'cookie';
import helmet from 'helmet';
import { ForbiddenError } from '../errors.js';
import { randomId } from '../domain/random.js';

const VISITOR_COOKIE = 'pm_vid';
const VISITOR_ID = /^[A-Za-z0-9_-]{22}$/;
/** A multipart body (media types are case-insensitive; parameters may follow). */
const MULTIPART = /^\s*multipart\/form-data\s*(;|$)/i;

/**
 * Helmet with a strict CSP, on every response of `app`: no inline script or style anywhere, forms post only to us,
 * never framed. Helmet's headers do not depend on the request, so helmet runs once at start-up and every response
 * gets the headers it set (the same names and values, without a dozen nested middleware calls per request).
 *
 * They are added when the response's head is written, with no per-request step: the app's response prototype
 * (express's `app.response`, which every `res` of the app, and of apps mounted in it, inherits from) gets a
 * `writeHead` that adds each header the route did not set itself (a route's own value wins, as it did when it
 * overwrote helmet's). Every way of answering (`res.end`, `res.send`, `render`, the error handler) writes the head
 * through `writeHead`. A response with no header set before its head is written gets them all as one array, which
 * Node writes without its per-header bookkeeping.
 */
export function secureResponses(app: Express, https: boolean): void {
  const headers = headersOf(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          ...(https ? { upgradeInsecureRequests: [] } : {}),
        },
      },
      strictTransportSecurity: https,
    }),
  );
  app.response.writeHead = securedWriteHead(headers) as Response['writeHead'];
}

type Head = OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;
const nodeWriteHead = ServerResponse.prototype.writeHead as (this: ServerResponse, status: number, reason?: string, headers?: Head) => ServerResponse;

/**
 * `writeHead` that adds `headers` first. When nothing was set on the response and the caller passes at most a flat
 * array of its own (`res.writeHead(303, ['Location', …])`, see features/delist/routes.ts), Node gets one flat
 * array and takes its fast path; else each header the route left unset is set, and Node merges as usual.
 */
function securedWriteHead(headers: Array<[string, string]>) {
  const flat = headers.flat();
  const names = new Set(headers.map(([name]) => name.toLowerCase()));
  return function writeHead(this: ServerResponse, status: number, reason?: string | Head, own?: Head): ServerResponse {
    if (typeof reason !== 'string') {
      own = reason;
      reason = undefined;
    }
    if (this.getHeaderNames().length === 0 && (own === undefined || isDisjointFlat(own, names))) {
      return nodeWriteHead.call(this, status, reason, own === undefined ? flat : flat.concat(own as string[]));
    }
    for (let i = 0; i < headers.length; i++) if (!this.hasHeader(headers[i]![0])) this.setHeader(headers[i]![0], headers[i]![1]);
    return nodeWriteHead.call(this, status, reason, own);
  };
}

/** A flat [name, value, …] array none of whose names is one of `names` (lower case). */
function isDisjointFlat(own: NonNullable<Head>, names: Set<string>): boolean {
  if (!Array.isArray(own)) return false;
  for (let i = 0; i < own.length; i += 2) if (typeof own[i] !== 'string' || names.has((own[i] as string).toLowerCase())) return false;
  return true;
}

/** The headers a request-independent middleware sets, read by running it once on a response that records them. */
function headersOf(middleware: RequestHandler): Array<[string, string]> {
  const set = new Map<string, string>();
  const recorder = {
    setHeader: (name: string, value: string) => set.set(name, String(value)),
    removeHeader: (name: string) => set.delete(name),
  };
  let called = false;
  middleware({} as Request, recorder as unknown as Response, () => (called = true));
  if (!called) throw new Error('security headers: helmet did not finish synchronously');
  return [...set];
}

/**
 * CSRF for every form. Public pages have no session, so each visitor gets an anonymous id (an HttpOnly, SameSite
 * cookie) and a form token is `random.HMAC(secret, visitorId.random)`: a token minted for one visitor is worth
 * nothing to another. Written here rather than with csrf-csrf because that library compares its HMACs with `===`;
 * this check is constant-time. `res.locals.csrf()` gives a form its token.
 */
export function csrf(secret: string, https: boolean, uploadPaths: readonly string[] = []): { middleware: RequestHandler; afterUpload: RequestHandler } {
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure: https, path: '/' };
  const key = createSecretKey(Buffer.from(secret)); // imported once, not on every HMAC
  const mac = (visitorId: string, random: string) => createHmac('sha256', key).update(`csrf:${visitorId}.${random}`).digest('base64url');
  const mint = (visitorId: string) => {
    const random = randomId(16);
    return `${random}.${mac(visitorId, random)}`;
  };
  const valid = (visitorId: string | undefined, token: unknown): boolean => {
    if (!visitorId || typeof token !== 'string' || token.length > 200) return false;
    const dot = token.indexOf('.');
    if (dot < 1 || dot === token.length - 1) return false;
    const expected = Buffer.from(mac(visitorId, token.slice(0, dot)));
    const actual = Buffer.from(token.slice(dot + 1));
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  };
  const protect = (req: Request, _res: Response, next: NextFunction) => {
    const token = (req.body as Record<string, unknown> | undefined)?._csrf ?? req.get('x-csrf-token');
    if (valid((req as Request & { visitorId?: string }).visitorId, token)) return next();
    next(new ForbiddenError('CSRF_INVALID', 'This form has expired or your browser did not send its cookie. Reload the page and try again.'));
  };
  // A multipart form's fields exist only after its route has read the upload: such a route (one of `uploadPaths`)
  // runs `afterUpload` itself, right after its upload middleware (see features/report/routes.ts). Anywhere else a
  // multipart body is checked here like any other, so the content type is no way around the check.
  const uploads = new Set(uploadPaths);
  /** Cookies (`req.cookies`), the visitor id (set when missing), `res.locals.csrf`, and the check of every unsafe method. */
  const middleware = (req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.cookie;
    const cookies: Record<string, string | undefined> = header ? parseCookies(header) : {};
    req.cookies = cookies;
    let id = cookies[VISITOR_COOKIE];
    if (!id || !VISITOR_ID.test(id)) {
      id = randomId(16);
      res.cookie(VISITOR_COOKIE, id, { ...cookieOptions, maxAge: 30 * 24 * 3600 * 1000 });
    }
    (req as Request & { visitorId?: string }).visitorId = id;
    let token: string | undefined;
    const visitorId = id;
    res.locals.csrf = () => (token ??= mint(visitorId));
    const method = req.method;
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return next();
    if (MULTIPART.test(req.headers['content-type'] ?? '') && uploads.has(req.path)) return next();
    protect(req, res, next);
  };
  return { middleware, afterUpload: protect };
}
