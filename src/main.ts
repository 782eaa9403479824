/**
 * `npm start`: web and worker in one process with the embedded defaults (Redis started from PATH when nothing
 * answers, dev outbox when no SMTP_URL). Production runs the roles apart: npm run start:web / start:worker.
 */
import { createMailer } from './mail/mailer.js';
import { boot, listenOrExit, onShutdown } from './runtime.js';
import { closeServer, listen } from './web.js';
import { closeSmtp, createAbuseSmtpServer, listenSmtp } from './smtp/intake.js';
import { closeParsePool } from './parse/pool.js';
import { startWorkers } from '../worker/workers.js';

const rt = await boot('all');
const web = rt.context('web');
const work = rt.context('worker');
const mailer = createMailer({ smtpUrl: rt.config.smtpUrl, from: rt.config.mailFrom, redis: work.redis, keys: work.keys });
const workers = startWorkers(work, work.redis, mailer, { listen: rt.databaseOptions });
const server = await listenOrExit('PORT', rt.config, () => listen(web));
rt.logger.info({ url: rt.config.publicUrl, mail: rt.config.smtpUrl ? 'smtp' : `${rt.config.publicUrl}/dev/outbox` }, 'portal ready (web + worker)');
// Development convenience: the SMTP intake in this process too (production runs it apart: npm run start:smtp).
// Its errors are handled per connection, so a client cannot end this process through it.
const smtp = rt.config.abuseSmtpPort !== undefined ? createAbuseSmtpServer(web) : null;
if (smtp) {
  await listenOrExit('ABUSE_SMTP_PORT', { host: rt.config.host, port: rt.config.abuseSmtpPort! }, () => listenSmtp(smtp, rt.config.abuseSmtpPort!, rt.config.host));
  rt.logger.info({ port: rt.config.abuseSmtpPort }, 'abuse SMTP intake listening');
}
onShutdown(rt.logger, [
  () => closeServer(server),
  () => (smtp ? closeSmtp(smtp) : undefined),
  () => closeParsePool(),
  () => Promise.all(workers.map((w) => w.close())),
  () => Promise.all([web.jobs.close(), work.jobs.close()]),
  () => mailer.close(),
  () => Promise.all([web.redis.quit(), work.redis.quit()]),
  () => rt.closeDatabase(),
  () => rt.redisHandle.stop(),
]);
