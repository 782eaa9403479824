/** The web role: config → Redis → app → listen; graceful shutdown on SIGTERM. The SMTP intake is its own role (src/smtp-main.ts). */
import { boot, listenOrExit, onShutdown } from './runtime.js';
import { closeServer, listen } from './web.js';
import { closeParsePool } from './parse/pool.js';

const rt = await boot('web');
const ctx = rt.context('web');
const server = await listenOrExit('PORT', rt.config, () => listen(ctx));
rt.logger.info({ url: rt.config.publicUrl, port: rt.config.port }, 'web listening');
if (rt.config.abuseSmtpPort !== undefined) rt.logger.warn({ port: rt.config.abuseSmtpPort }, 'ABUSE_SMTP_PORT is set, but the web role does not run the SMTP intake: start it with npm run start:smtp');
onShutdown(rt.logger, [() => closeServer(server), () => closeParsePool(), () => ctx.jobs.close(), () => ctx.redis.quit(), () => rt.closeDatabase(), () => rt.redisHandle.stop()]);
