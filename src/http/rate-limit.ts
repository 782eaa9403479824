import type { Request, RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Redis } from 'ioredis';
import { RateLimitedError } from '../errors.js';
import type { Keys } from '../redis/keys.js';

export interface Window {
  max: number;
  windowMinutes: number;
}

/**
 * A rate limit whose counters live in Redis, so every web instance shares them. Without `keyOf` it counts per
 * client IP (IPv6 grouped by /56, as express-rate-limit does); with it, per whatever the key names (an email, a target IP).
 */
export function limiter(redis: Redis, keys: Keys, name: string, window: Window, keyOf?: (req: Request) => string | Promise<string>): RequestHandler {
  return rateLimit({
    windowMs: window.windowMinutes * 60_000,
    limit: window.max,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(keyOf && { keyGenerator: keyOf }),
    store: new RedisStore({
      prefix: keys.rateLimit(name),
      sendCommand: (command: string, ...args: string[]) => redis.call(command, ...args) as Promise<RedisReply>,
    }),
    handler: (req, _res, next) => {
      const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime?.getTime() ?? Date.now() + window.windowMinutes * 60_000;
      next(new RateLimitedError(Math.max(1, Math.ceil((reset - Date.now()) / 1000))));
    },
    passOnStoreError: false,
  });
}
