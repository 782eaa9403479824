/**
 * The smtp role (`npm run start:smtp`): the abuse-report SMTP intake in a process of its own, so nothing a client
 * does there can stop the web or the worker. Needs ABUSE_SMTP_PORT; STARTTLS with ABUSE_SMTP_TLS_KEY/CERT.
 */
import { ConfigError, loadConfig } from './config.js';
import { boot, listenOrExit, onShutdown } from './runtime.js';
import { closeSmtp, createAbuseSmtpServer, listenSmtp } from './smtp/intake.js';
import { closeParsePool } from './parse/pool.js';

const MISSING_PORT = '  ABUSE_SMTP_PORT: is required for the smtp role (npm run start:smtp)';

// Checked before boot() reaches for Redis, so a missing port is a config error (78) like any other, listed with them.
try {
  if (loadConfig().abuseSmtpPort === undefined) {
    process.stderr.write(`Invalid configuration:\n${MISSING_PORT}\n`);
    process.exit(78); // EX_CONFIG
  }
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}${process.env.ABUSE_SMTP_PORT ? '' : `\n${MISSING_PORT}`}\n`);
  process.exit(78);
}

const rt = await boot('smtp');
const ctx = rt.context('web');
const port = rt.config.abuseSmtpPort!;
const smtp = createAbuseSmtpServer(ctx);
// A port taken or refused is a configuration error (78, a line naming ABUSE_SMTP_PORT), as PORT is for the web role.
try {
  await listenOrExit('ABUSE_SMTP_PORT', { host: rt.config.host, port }, () => listenSmtp(smtp, port, rt.config.host));
} catch (err) {
  process.stderr.write(`Cannot listen on ${rt.config.host}:${port}: ${(err as Error).message}\n`);
  process.exit(71); // EX_OSERR: anything else the system refused
}
rt.logger.info({ port, host: rt.config.host, starttls: !!rt.config.abuseSmtpTls }, 'abuse SMTP intake listening');
onShutdown(rt.logger, [() => closeSmtp(smtp), () => closeParsePool(), () => ctx.jobs.close(), () => ctx.redis.quit(), () => rt.closeDatabase(), () => rt.redisHandle.stop()]);
