/**
 * `npm start`: web and worker in one process with the embedded defaults (Redis started from PATH when nothing
 * answers, dev outbox when no SMTP_URL). Production runs the roles apart: npm run start:web / start:worker.
 */
import { createMailer } from './mail/mailer.js';
import { boot, onShutdown } from './runtime.js';
import { closeServer, listen } from './web.js';
import { createAbuseSmtpServer, listenSmtp } from './smtp/intake.js';
import { closeParsePool } from './parse/pool.js';
import { startWorkers } from '../worker/workers.js';

const rt = await boot('all');
const web = rt.context('web');
const work = rt.context('worker');
const mailer = createMailer({ smtpUrl: rt.config.smtpUrl, from: rt.config.mailFrom, redis: work.redis, keys: work.keys });
const workers = startWorkers(work, work.redis, mailer);
const server = await listen(web);
rt.logger.info({ url: rt.config.publicUrl, mail: rt.config.smtpUrl ? 'smtp' : `${rt.config.publicUrl}/dev/outbox` }, 'portal ready (web + worker)');
const smtp = rt.config.abuseSmtpPort !== undefined ? createAbuseSmtpServer(web) : null;
if (smtp) {
  await listenSmtp(smtp, rt.config.abuseSmtpPort!, rt.config.host);
  rt.logger.info({ port: rt.config.abuseSmtpPort }, 'abuse SMTP intake listening');
}
onShutdown(rt.logger, [
  () => closeServer(server),
  () => new Promise<void>((r) => (smtp ? smtp.close(() => r()) : r())),
  () => closeParsePool(),
  () => Promise.all(workers.map((w) => w.close())),
  () => Promise.all([web.jobs.close(), work.jobs.close()]),
  () => mailer.close(),
  () => Promise.all([web.redis.quit(), work.redis.quit()]),
  () => rt.redisHandle.stop(),
]);
