/** The web role: config → Redis → app → listen; graceful shutdown on SIGTERM. */
import { boot, onShutdown } from './runtime.js';
import { closeServer, listen } from './web.js';
import { createAbuseSmtpServer, listenSmtp } from './smtp/intake.js';
import { closeParsePool } from './parse/pool.js';

const rt = await boot('web');
const ctx = rt.context('web');
const server = await listen(ctx);
rt.logger.info({ url: rt.config.publicUrl, port: rt.config.port }, 'web listening');
const smtp = rt.config.abuseSmtpPort !== undefined ? createAbuseSmtpServer(ctx) : null;
if (smtp) {
  await listenSmtp(smtp, rt.config.abuseSmtpPort!, rt.config.host);
  rt.logger.info({ port: rt.config.abuseSmtpPort }, 'abuse SMTP intake listening');
}
onShutdown(rt.logger, [() => closeServer(server), () => new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r())), () => closeParsePool(), () => ctx.jobs.close(), () => ctx.redis.quit(), () => rt.redisHandle.stop()]);
