import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { createContext, type Context } from '../../src/context.js';
import { createLogger } from '../../src/logger.js';
import { loadPolicy, type Policy } from '../../src/policy.js';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { DEFAULT_REDIS_URL } from '../../src/redis/embedded.js';

export const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;

export interface TestContext extends Context {
  /** Deletes every key under this test's prefix and closes the connection. */
  cleanup(): Promise<void>;
}

/** A context under a prefix of its own (pm-test-<random>), so tests never touch anyone else's keys. */
export function testContext(opts: { env?: Record<string, string>; policy?: (p: Policy) => Policy; role?: 'web' | 'worker' } = {}): TestContext {
  const prefix = `pm-test-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({ NODE_ENV: 'test', REDIS_URL, REDIS_PREFIX: prefix, PUBLIC_URL: 'http://portal.test', ...opts.env });
  const policy = (opts.policy ?? ((p) => p))(loadPolicy());
  const ctx = createContext(config, policy, createRedis(config.redisUrl ?? REDIS_URL, opts.role ?? 'web'), createLogger(process.env.LOG_LEVEL ?? 'silent', 'test'));
  return Object.assign(ctx, {
    async cleanup() {
      await ctx.jobs.close();
      await deleteByPattern(ctx.redis, ctx.keys.all);
      await ctx.redis.quit();
    },
  });
}
