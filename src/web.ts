import type { Server } from 'node:http';
import { createApp } from './app.js';
import type { Context } from './context.js';

/** Listens with the app; resolves once the port is bound. */
export function listen(ctx: Context): Promise<Server> {
  const app = createApp(ctx);
  return new Promise((resolve, reject) => {
    const server = app.listen(ctx.config.port, ctx.config.host, (err?: Error) => (err ? reject(err) : resolve(server)));
  });
}

/** Stops accepting connections and waits for open requests to finish. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
