import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import { z } from 'zod';
import type { Context } from '../../context.js';
import { ForbiddenError, RateLimitedError } from '../../errors.js';
import { limiter } from '../../http/rate-limit.js';
import { IoRedisSessionStore } from '../../http/session-store.js';
import { roleAtLeast, type Role, type StaffUser } from '../../stores/staff.js';

declare module 'express-session' {
  interface SessionData {
    staff?: StaffUser;
  }
}

export const SESSION_COOKIE = 'pm_staff';

/** Staff sessions in Redis: HttpOnly, SameSite=Strict, scoped to /staff, Secure behind https. */
export function staffSession(ctx: Context): RequestHandler {
  const maxAge = ctx.policy.staff.sessionHours * 3_600_000;
  return session({
    name: SESSION_COOKIE,
    secret: ctx.config.secret,
    store: new IoRedisSessionStore(ctx.redis, ctx.keys.session, maxAge / 1000),
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: 'strict', secure: ctx.config.publicUrl.startsWith('https:'), path: '/staff', maxAge },
  });
}

/** Staff pages are never cached, by the browser or anything between. */
export const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store, private');
  res.set('Pragma', 'no-cache');
  next();
};

/** No session → the login page (HTML) or 401 (anything else). */
export const requireStaff: RequestHandler = (req, res, next) => {
  if (req.session.staff) {
    res.locals.staff = req.session.staff;
    return next();
  }
  if (req.method === 'GET' && req.accepts('html')) return res.redirect(303, `/staff/login?next=${encodeURIComponent(req.originalUrl)}`);
  res.status(401).json({ error: 'Sign in first.', code: 'UNAUTHORIZED' });
};

/** The role check every staff route goes through (viewer < triager < admin). */
export const requireRole =
  (role: Role): RequestHandler =>
  (req: Request, _res: Response, next: NextFunction) =>
    roleAtLeast(req.session.staff!.role, role) ? next() : next(new ForbiddenError('ROLE_REQUIRED', `This needs the ${role} role.`));

const loginForm = z.object({ email: z.string().trim().min(1).max(254), password: z.string().min(1).max(1000), next: z.string().max(500).optional() });

/** Only same-site paths under /staff are followed after login (no open redirect). */
const safeNext = (next: string | undefined) => (next && /^\/staff(\/[A-Za-z0-9/_?=&.%-]*)?$/.test(next) && !next.includes('..') && !next.includes('//') ? next : '/staff');

export function loginRoutes(ctx: Context): { page: RequestHandler; submit: RequestHandler[]; logout: RequestHandler } {
  const render = (res: Response, status: number, error: string | null, values: { email?: string; next?: string }) =>
    res.status(status).render('staff/login', { title: 'Staff sign-in', error, values });
  return {
    page: (req, res) => (req.session.staff ? res.redirect(303, '/staff') : render(res, 200, null, { next: typeof req.query.next === 'string' ? req.query.next : '' })),
    submit: [
      limiter(ctx.redis, ctx.keys, 'staff-login-client', ctx.policy.staff.loginPerClientIp),
      async (req, res, next) => {
        const parsed = loginForm.safeParse(req.body);
        if (!parsed.success) return render(res, 400, 'Enter your email address and password.', {});
        const { email, password } = parsed.data;
        const result = await ctx.staff.login(email, password);
        if (!result.ok) {
          ctx.logger.warn({ staff: email.toLowerCase(), locked: result.locked }, 'staff login failed');
          if (result.locked) return next(new RateLimitedError(result.retryAfterSeconds, 'Too many failed sign-ins: this account is locked for a while. Try again later or ask an admin.'));
          return render(res, 401, 'Wrong email address or password.', { email, next: parsed.data.next ?? '' });
        }
        // A new session id at login, so a session id planted before sign-in is worth nothing (fixation).
        req.session.regenerate((err) => {
          if (err) return next(err);
          req.session.staff = result.user;
          req.session.save((saveErr) => (saveErr ? next(saveErr) : res.redirect(303, safeNext(parsed.data.next))));
        });
        const tx = ctx.redis.multi();
        ctx.audit.appendIn(tx, { at: new Date().toISOString(), actor: result.user.email, action: 'staff.login', target: result.user.email, reason: 'signed in' });
        await tx.exec();
      },
    ],
    logout: (req, res, next) => {
      const who = req.session.staff?.email;
      req.session.destroy((err) => {
        if (err) return next(err);
        res.clearCookie(SESSION_COOKIE, { path: '/staff' });
        if (!who) return res.redirect(303, '/staff/login');
        const tx = ctx.redis.multi();
        ctx.audit.appendIn(tx, { at: new Date().toISOString(), actor: who, action: 'staff.logout', target: who, reason: 'signed out' });
        tx.exec().then(() => res.redirect(303, '/staff/login'), next);
      });
    },
  };
}
