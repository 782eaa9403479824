/** The worker role: BullMQ workers for every queue; finishes the jobs in hand on SIGTERM. */
import { boot, onShutdown } from '../src/runtime.js';
import { createMailer } from '../src/mail/mailer.js';
import { closeParsePool } from '../src/parse/pool.js';
import { startWorkers } from './workers.js';

const rt = await boot('worker');
const ctx = rt.context('worker');
const mailer = createMailer({ smtpUrl: rt.config.smtpUrl, from: rt.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
const workers = startWorkers(ctx, ctx.redis, mailer, { listen: rt.databaseOptions });
rt.logger.info({ queues: workers.map((w) => w.name) }, 'worker started');
onShutdown(rt.logger, [() => Promise.all(workers.map((w) => w.close())), () => closeParsePool(), () => ctx.jobs.close(), () => mailer.close(), () => ctx.redis.quit(), () => rt.closeDatabase(), () => rt.redisHandle.stop()]);
