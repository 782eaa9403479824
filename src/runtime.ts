import type { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import { loadConfig, type Config } from './config.js';
import { openDatabase, SchemaBehindError, type OpenDatabase } from './db/open.js';
import type { DbOptions } from './db/connection.js';
import type { Database } from './db/schema.js';
import { createContext, type Context } from './context.js';
import { createLogger, type Logger } from './logger.js';
import { DEFAULT_POLICY_FILE, loadPolicy } from './policy.js';
import { createRedis } from './redis/connection.js';
import { ensureRedis, type RedisHandle } from './redis/embedded.js';

export interface Runtime {
  config: Config;
  logger: Logger;
  redisHandle: RedisHandle;
  /** The system of record (one pool per process), migrated at start outside production. */
  db: Kysely<Database>;
  /** How to open another connection into the same database and schema (the job outbox relay's LISTEN). */
  databaseOptions: DbOptions;
  /** Closes the database pool (and a private PostgreSQL cluster this process started): the last closer. */
  closeDatabase(): Promise<void>;
  /** Builds a context on its own connection (web: fail fast; worker: wait). */
  context(role: 'web' | 'worker' | 'cli'): Context;
  connection(role: 'web' | 'worker' | 'cli'): Redis;
}

/** Exit status of a configuration error (sysexits EX_CONFIG). */
export const EX_CONFIG = 78;

/** Ends the process for a configuration error: the message (a line per key) on stderr, exit 78, no stack trace. */
export function exitConfig(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(EX_CONFIG);
}

/**
 * Start-up shared by every process: config and policy validated once, Redis and PostgreSQL found or started (the
 * schema migrated outside production). Exits with a clear
 * message on failure. `role` also decides the mode when NODE_ENV is unset (see loadConfig): `all` (npm start) is
 * development, a role started on its own is production.
 */
export async function boot(role: string): Promise<Runtime> {
  let config: Config;
  let policy;
  try {
    config = loadConfig(process.env, { role });
    policy = loadPolicy(config.policyFile ?? DEFAULT_POLICY_FILE);
  } catch (err) {
    exitConfig((err as Error).message);
  }
  // The mode decided for this role is every library's too (express caches views only in production).
  process.env.NODE_ENV ??= config.env;
  const logger = createLogger(config.logLevel, role);
  let redisHandle: RedisHandle;
  try {
    redisHandle = await ensureRedis(config.redisUrl);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(69); // EX_UNAVAILABLE
  }
  let database: OpenDatabase;
  try {
    database = await openDatabase(config, `postmaster-${role}`, (err) => logger.warn({ err: err.message }, 'database connection lost'));
  } catch (err) {
    await redisHandle.stop();
    if (err instanceof SchemaBehindError) exitConfig(err.message);
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(69); // EX_UNAVAILABLE
  }
  return {
    config,
    logger,
    redisHandle,
    db: database.db,
    databaseOptions: { url: database.handle.url, ...(config.databaseSchema && { searchPath: config.databaseSchema }) },
    closeDatabase: () => database.close(),
    connection: (r) => createRedis(redisHandle.url, r, logger),
    context: (r) => createContext(config, policy, createRedis(redisHandle.url, r, logger), logger, database.db),
  };
}

/**
 * Binds a listener; a bind refused because of the configuration (the port taken or privileged, the address not one
 * of this machine's) ends the process like any configuration error, naming the key.
 */
export async function listenOrExit<T>(portKey: string, at: { host: string; port: number }, bind: () => Promise<T>): Promise<T> {
  try {
    return await bind();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `cannot listen on ${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}`;
    if (code === 'EADDRINUSE') exitConfig(`Invalid configuration:\n  ${portKey}: ${where}: the port is already in use`);
    if (code === 'EACCES') exitConfig(`Invalid configuration:\n  ${portKey}: ${where}: this process may not use that port`);
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAFNOSUPPORT') exitConfig(`Invalid configuration:\n  HOST: ${where}: not an address of this machine`);
    throw err;
  }
}

/** Runs the closers in order on SIGTERM or SIGINT, once, then exits; a second signal or 10 s forces the exit. */
export function onShutdown(logger: Logger, closers: Array<() => Promise<unknown> | unknown>): void {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), 10_000).unref();
    for (const close of closers) {
      try {
        await close();
      } catch (err) {
        logger.warn({ err: (err as Error).message }, 'error while closing');
      }
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
