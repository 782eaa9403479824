import { randomBytes } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import helmet from 'helmet';
import { ForbiddenError } from '../errors.js';

const VISITOR_COOKIE = 'pm_vid';

/** Helmet with a strict CSP: no inline script or style anywhere, forms post only to us, never framed. */
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
 * CSRF for every form (double-submit cookie, HMAC-bound to an anonymous visitor id, since public pages have no
 * session). `res.locals.csrf()` gives a form its token.
 */
export function csrf(secret: string, https: boolean): { middleware: RequestHandler[]; afterUpload: RequestHandler } {
  const cookieOptions = { httpOnly: true, sameSite: 'lax' as const, secure: https, path: '/' };
  const { generateCsrfToken, doubleCsrfProtection } = doubleCsrf({
    getSecret: () => secret,
    getSessionIdentifier: (req) => (req as Request & { visitorId?: string }).visitorId ?? '',
    cookieName: https ? '__Host-pm.csrf' : 'pm_csrf',
    cookieOptions,
    getCsrfTokenFromRequest: (req) => (typeof req.body?._csrf === 'string' ? req.body._csrf : req.get('x-csrf-token')),
  });
  const visitor = (req: Request, res: Response, next: NextFunction) => {
    let id = req.cookies?.[VISITOR_COOKIE] as string | undefined;
    if (!id || !/^[A-Za-z0-9_-]{22}$/.test(id)) {
      id = randomBytes(16).toString('base64url');
      res.cookie(VISITOR_COOKIE, id, { ...cookieOptions, maxAge: 30 * 24 * 3600 * 1000 });
    }
    (req as Request & { visitorId?: string }).visitorId = id;
    res.locals.csrf = () => generateCsrfToken(req, res);
    next();
  };
  const protect = (req: Request, res: Response, next: NextFunction) =>
    doubleCsrfProtection(req, res, (err?: unknown) =>
      next(err ? new ForbiddenError('CSRF_INVALID', 'This form has expired or your browser did not send its cookie. Reload the page and try again.') : undefined),
    );
  // A multipart form's fields exist only after its route has read the upload: such a route runs `csrfAfterUpload`
  // itself, right after its upload middleware (see features/report/routes.ts).
  const globalProtect = (req: Request, res: Response, next: NextFunction) => (req.is('multipart/form-data') ? next() : protect(req, res, next));
  return { middleware: [cookieParser(), visitor, globalProtect], afterUpload: protect };
}
