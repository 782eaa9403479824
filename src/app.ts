import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import type { Context } from './context.js';
import { bounceBody, bounceRoutes } from './features/bounce/routes.js';
import { delistRoutes } from './features/delist/routes.js';
import { devOutboxRoutes, fromThisMachine } from './features/dev-outbox/routes.js';
import { homeRoutes } from './features/home/routes.js';
import { lookupRoutes } from './features/lookup/routes.js';
import { poolExplainerRoutes } from './features/pools/routes.js';
import { reportApiRoutes } from './features/report/api.js';
import { reportRoutes } from './features/report/routes.js';
import { unblockRoutes } from './features/unblock/routes.js';
import { contactRoutes } from './features/contact/routes.js';
import { staffRoutes } from './features/staff/routes.js';
import { jobDashboard } from './features/staff/job-dashboard.js';
import { requireApiToken } from './http/api-auth.js';
import { createMetrics } from './http/metrics.js';
import { languageMiddleware } from './i18n/index.js';
import { reasonText } from './features/status/labels.js';
import { routingApiRoutes } from './features/routing-api/routes.js';
import { exportRoutes } from './features/exports/routes.js';
import { statusRoutes } from './features/status/routes.js';
import { errorHandler, notFound, onlyLowerCaseStaff } from './http/errors.js';
import { csrf, securityHeaders } from './http/security.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The express app: no listening, no connecting; tests call `request(createApp(ctx))`. */
export function createApp(ctx: Context): express.Express {
  const app = express();
  const https = ctx.config.publicUrl.startsWith('https:');
  app.set('views', path.join(root, 'views'));
  app.set('view engine', 'ejs');
  // TRUST_PROXY true/false as the functions express compiles them to (same meaning): express-rate-limit checks the
  // literal setting and prints a stack trace on stderr for it (true: on the first request, warned about here once
  // instead; false: whenever a client sends X-Forwarded-For).
  const trust = ctx.config.trustProxy;
  app.set('trust proxy', trust === true ? () => true : trust === false ? () => false : trust);
  if (trust === true) ctx.logger.warn('TRUST_PROXY=true trusts every X-Forwarded-For hop, so any client can choose the address rate limits count: set the number of proxies in front, or their addresses, instead');
  // One spelling per path. The feature routers still match any case, so the staff area is fenced below as well.
  app.set('case sensitive routing', true);
  app.disable('x-powered-by');
  app.use(securityHeaders(https));
  app.locals.publicUrl = ctx.config.publicUrl;
  app.locals.devOutbox = !ctx.config.smtpUrl && ctx.config.env !== 'production';
  app.locals.reasonText = reasonText;
  app.locals.operator = ctx.config.operator;

  const metrics = createMetrics(ctx);
  const csrfGuard = csrf(ctx.config.secret, https, ['/report']);

  // The dev outbox (development only) answers a browser on this machine only: nobody else gets a link to it.
  if (app.locals.devOutbox) {
    app.use((req, res, next) => {
      if (!fromThisMachine(req)) res.locals.devOutbox = false;
      next();
    });
  }

  app.use(metrics.observe);

  // The machine API under /api/: token auth per route, no cookies or CSRF. Reports come as raw messages, the rest
  // as JSON. One prefix test keeps every other request from walking the API's routes.
  const api = express.Router();
  api.use(reportApiRoutes(ctx));
  api.use(express.json({ limit: '64kb' }));
  api.use(routingApiRoutes(ctx));
  api.use(exportRoutes(ctx));
  app.use((req, res, next) => (req.path.startsWith('/api/') ? api(req, res, next) : next()));
  app.get('/metrics', requireApiToken(ctx.apiTokens), metrics.expose);

  // Public pages: small urlencoded forms (over 16 kB or 20 fields is a 413; a charset other than UTF-8 or Latin-1,
  // or a compressed body, which browsers never send, a 415), CSRF on every POST.
  // A pasted bounce message may be larger (up to 512 kB, features/bounce/routes.ts): its own parser reads it first.
  app.post('/bounce', bounceBody());
  app.use(express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20, inflate: false }));
  app.use(csrfGuard.middleware);
  app.use(languageMiddleware(https));
  app.use(delistRoutes(ctx));
  app.use(homeRoutes(ctx));
  app.use(reportRoutes(ctx, csrfGuard.afterUpload));
  app.use(poolExplainerRoutes(ctx));
  app.use(unblockRoutes(ctx));
  app.use(contactRoutes(ctx));
  app.use(onlyLowerCaseStaff);
  app.use(staffRoutes(ctx, { queuesDashboard: jobDashboard(ctx) }));
  app.use(statusRoutes(ctx));
  app.use(lookupRoutes(ctx));
  app.use(bounceRoutes(ctx));
  if (app.locals.devOutbox) app.use(devOutboxRoutes(ctx));

  // Static files last, so no route pays for a file-system lookup.
  app.use(express.static(path.join(root, 'public'), { maxAge: '1h', index: false }));
  app.use(notFound);
  app.use(errorHandler(ctx.logger));
  return app;
}
