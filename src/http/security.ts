import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { parse as parseCookies } from 'cookie';
import helmet from 'helmet';
import { ForbiddenError } from '../errors.js';
import { randomId } from '../domain/random.js';

const VISITOR_COOKIE = 'pm_vid';
const VISITOR_ID = /^[A-Za-z0-9_-]{22}$/;
/** A multipart body (media types are case-insensitive; parameters may follow). */
const MULTIPART = /^\s*multipart\/form-data\s*(;|$)/i;

/**
 * Helmet with a strict CSP, for every response of the app: no inline script or style anywhere, forms post only to
 * us, never framed. The app mounts it first (app.ts), so every answer carries the headers, error pages included; a
 * route that sets one of them itself replaces helmet's value.
 */
export function securityHeaders(https: boolean): RequestHandler {
  return helmet({
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
  });
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
