import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { createContext, type Context } from '../../src/context.js';
import { createLogger } from '../../src/logger.js';
import { loadPolicy, type Policy } from '../../src/policy.js';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { DEFAULT_REDIS_URL } from '../../src/redis/embedded.js';
import { dropSchema, lazyTestDb, newSchemaName } from './db.js';

export const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;

export interface TestContext extends Context {
  /** The PostgreSQL schema of this context (created and migrated on first use, dropped by cleanup). */
  schema: string;
  /** What a process started by the test needs to work in the same Redis prefix and PostgreSQL schema. */
  processEnv(): Record<string, string>;
  /** Deletes every key under this test's prefix, drops its schema and closes the connections. */
  cleanup(): Promise<void>;
}

/**
 * A context under a Redis prefix (pm-test-<random>) and a PostgreSQL schema (pm_t_<time>_<random>) of its own, so
 * tests never touch anyone else's keys or rows.
 */
export function testContext(opts: { env?: Record<string, string>; policy?: (p: Policy) => Policy; role?: 'web' | 'worker'; /** PostgreSQL pool size (default 5; the roles use 10). */ dbPool?: number } = {}): TestContext {
  const prefix = `pm-test-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({ NODE_ENV: 'test', REDIS_URL, REDIS_PREFIX: prefix, PUBLIC_URL: 'http://portal.test', ...opts.env });
  const policy = (opts.policy ?? ((p) => p))(loadPolicy());
  const schema = newSchemaName();
  const ctx = createContext(config, policy, createRedis(config.redisUrl ?? REDIS_URL, opts.role ?? 'web'), createLogger(process.env.LOG_LEVEL ?? 'silent', 'test'), lazyTestDb(schema, opts.dbPool));
  return Object.assign(ctx, {
    schema,
    processEnv: () => ({ REDIS_URL: config.redisUrl ?? REDIS_URL, REDIS_PREFIX: prefix, DATABASE_SCHEMA: schema, ...(process.env.DATABASE_URL && { DATABASE_URL: process.env.DATABASE_URL }) }),
    async cleanup() {
      await ctx.jobs.close();
      await deleteByPattern(ctx.redis, ctx.keys.all);
      await ctx.redis.quit();
      await ctx.db.destroy();
      await dropSchema(schema);
    },
  });
}
