import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * Web and CLI connections fail fast (a request must not hang on a dead Redis);
 * worker connections wait and retry forever, as BullMQ workers require.
 */
export function createRedis(url: string, role: 'web' | 'worker' | 'cli', logger?: Pick<Logger, 'warn' | 'info'>): Redis {
  // No auto-pipelining: at the form's real rates a command rarely shares an event-loop tick with another, and
  // ioredis then pays for a pipeline object and a deferred write per command. Measured at 200 submissions/s
  // (docs/benchmarks.md, session 9): about a third less garbage-collection time and a lower p99 without it.
  const failFast: RedisOptions = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    connectTimeout: 2000,
    retryStrategy: (n) => Math.min(n * 200, 2000),
  };
  const wait: RedisOptions = { maxRetriesPerRequest: null, retryStrategy: (n) => Math.min(n * 200, 5000) };
  const redis = new Redis(url, { lazyConnect: false, ...(role === 'worker' ? wait : failFast) });
  // A lost connection surfaces where it matters: each command fails (web answers 503, jobs retry). Without a
  // listener ioredis would also print every reconnect attempt as an "unhandled error event". The outage is logged
  // once (and its end), not once per reconnect attempt.
  let down = false;
  redis.on('error', (err: NodeJS.ErrnoException) => {
    if (down) return;
    down = true;
    logger?.warn({ err: err.message, code: err.code }, 'redis connection failed; commands fail until it is back (retrying)');
  });
  redis.on('ready', () => {
    if (down) logger?.info('redis connection back');
    down = false;
  });
  return redis;
}

/** Removes every key matching a glob by SCAN (maintenance and tests only). */
export async function deleteByPattern(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

