/** The web role: config → Redis → app → listen; graceful shutdown on SIGTERM. */
import { boot, onShutdown } from './runtime.js';
import { closeServer, listen } from './web.js';

const rt = await boot('web');
const ctx = rt.context('web');
const server = await listen(ctx);
rt.logger.info({ url: rt.config.publicUrl, port: rt.config.port }, 'web listening');
onShutdown(rt.logger, [() => closeServer(server), () => ctx.jobs.close(), () => ctx.redis.quit(), () => rt.redisHandle.stop()]);
