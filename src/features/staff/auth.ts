import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import { ipKeyGenerator } from 'express-rate-limit';
import { z } from 'zod';
import { staffTime } from './time.js';
import type { Context } from '../../context.js';
import { ForbiddenError } from '../../errors.js';
import { limiter } from '../../http/rate-limit.js';
import { IoRedisSessionStore } from '../../http/session-store.js';
import { roleAtLeast, type Role, type StaffUser } from '../../stores/staff.js';

/** What a staff session holds: who signed in, when, and the account's session version then. Never the role. */
export interface StaffLogin {
  email: string;
  sessionVersion: number;
  /** ms since the epoch; the absolute lifetime counts from here. */
  startedAt: number;
}

declare module 'express-session' {
  interface SessionData {
    staffLogin?: StaffLogin;
  }
}

declare global {
  namespace Express {
    interface Request {
      /** The signed-in staff user as the store has it now (set by requireStaff on every request). */
      staff?: StaffUser;
    }
  }
}

export const SESSION_COOKIE = 'pm_staff';

/** Staff sessions in Redis: HttpOnly, SameSite=Strict, scoped to /staff, Secure behind https. */
export function staffSession(ctx: Context): RequestHandler {
  const maxAge = ctx.policy.staff.sessionHours * 3_600_000;
  const absolute = ctx.policy.staff.sessionAbsoluteHours * 3_600_000;
  return session({
    name: SESSION_COOKIE,
    secret: ctx.config.secret,
    store: new IoRedisSessionStore(ctx.redis, ctx.keys.session, maxAge / 1000, (s) => (s.staffLogin ? s.staffLogin.startedAt + absolute : undefined)),
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

/** Why a session may no longer be used, or null while it may. */
function sessionEnd(login: StaffLogin, user: StaffUser | null, absoluteMs: number, now: number): string | null {
  if (!user) return 'account gone';
  if (user.disabled) return 'account disabled';
  if (user.sessionVersion !== login.sessionVersion) return 'sessions revoked';
  if (!(now - login.startedAt < absoluteMs)) return 'absolute lifetime over';
  return null;
}

/**
 * The session holds the user id only: on every request the account is read from the store, so a changed role
 * applies at once, and a disabled account, a revoked session (password change, `staff sessions revoke`) or one
 * past its absolute lifetime ends here. No valid session → the login page (HTML GET) or 401 (anything else).
 */
export function requireStaff(ctx: Context): RequestHandler {
  const absoluteMs = ctx.policy.staff.sessionAbsoluteHours * 3_600_000;
  return async (req, res, next) => {
    const login = req.session?.staffLogin; // no session at all (a path the session cookie does not cover): signed out
    if (login) {
      const user = await ctx.staff.get(login.email);
      const end = sessionEnd(login, user, absoluteMs, Date.now());
      if (!end) {
        req.staff = user!;
        res.locals.staff = user;
        res.locals.when = staffTime;
        return next();
      }
      ctx.logger.info({ staff: login.email, why: end }, 'staff session ended');
      await new Promise<void>((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
      res.clearCookie(SESSION_COOKIE, { path: '/staff' });
    }
    if (req.method === 'GET' && req.accepts('html')) return res.redirect(303, `/staff/login?next=${encodeURIComponent(req.originalUrl)}`);
    res.status(401).json({ error: 'Sign in first.', code: 'UNAUTHORIZED' });
  };
}

/** The role check every staff route goes through (viewer < triager < admin), on the role read for this request. */
export const requireRole =
  (role: Role): RequestHandler =>
  (req: Request, _res: Response, next: NextFunction) =>
    req.staff && roleAtLeast(req.staff.role, role) ? next() : next(new ForbiddenError('ROLE_REQUIRED', `This needs the ${role} role.`));

const loginForm = z.object({ email: z.string().trim().min(1).max(254), password: z.string().min(1).max(1000), next: z.string().max(500).optional() });

/** The client a sign-in throttle counts against: the address (IPv6 by network, as the rate limits group it). */
const clientOf = (req: Request) => (req.ip ? ipKeyGenerator(req.ip) : 'unknown');

/** Only same-site paths under /staff are followed after login (no open redirect). */
const safeNext = (next: string | undefined) => (next && /^\/staff(\/[A-Za-z0-9/_?=&.%-]*)?$/.test(next) && !next.includes('..') && !next.includes('//') ? next : '/staff');

export function loginRoutes(ctx: Context): { page: RequestHandler; submit: RequestHandler[]; logout: RequestHandler } {
  const render = (res: Response, status: number, error: string | null, values: { email?: string; next?: string }) =>
    res.status(status).render('staff/login', { title: 'Staff sign-in', error, values });
  return {
    page: (req, res) => (req.session.staffLogin ? res.redirect(303, '/staff') : render(res, 200, null, { next: typeof req.query.next === 'string' ? req.query.next : '' })),
    submit: [
      limiter(ctx.redis, ctx.keys, 'staff-login-client', ctx.policy.staff.loginPerClientIp),
      async (req, res) => {
        const parsed = loginForm.safeParse(req.body);
        if (!parsed.success) return render(res, 400, 'Enter your email address and password.', {});
        const { email, password } = parsed.data;
        const values = { email, next: parsed.data.next ?? '' };
        const result = await ctx.staff.login(email, password, clientOf(req));
        if (!result.ok) {
          ctx.logger.warn({ staff: email.toLowerCase(), client: req.ip, why: result.reason }, 'staff login failed');
          if (result.reason === 'throttled') {
            // This client waits for this account; the account itself stays open to everyone else.
            const seconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
            res.set('Retry-After', String(seconds));
            return render(res, 429, `Too many failed sign-ins for this account from your address. Wait ${seconds} seconds, then try again.`, values);
          }
          // A disabled account gets the wrong-password answer, whatever the password: a different one would tell
          // anyone that the password they tried is right. The log above keeps the real reason.
          return render(res, 401, 'Wrong email address or password.', values);
        }
        const user = result.user;
        // A new session id at login, so a session id planted before sign-in is worth nothing (fixation).
        await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
        req.session.staffLogin = { email: user.email, sessionVersion: user.sessionVersion, startedAt: Date.now() };
        await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
        await ctx.audit.append({ at: new Date().toISOString(), actor: user.email, action: 'staff.login', target: user.email, reason: 'signed in' });
        res.redirect(303, safeNext(parsed.data.next));
      },
    ],
    logout: (req, res, next) => {
      const who = req.session.staffLogin?.email;
      req.session.destroy((err) => {
        if (err) return next(err);
        res.clearCookie(SESSION_COOKIE, { path: '/staff' });
        if (!who) return res.redirect(303, '/staff/login');
        ctx.audit.append({ at: new Date().toISOString(), actor: who, action: 'staff.logout', target: who, reason: 'signed out' }).then(() => res.redirect(303, '/staff/login'), next);
      });
    },
  };
}
