import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Redis } from 'ioredis';
import { countingAddress, countingDomain, countingDomainOf } from '../domain/email-address.js';
import { RateLimitedError } from '../errors.js';
import type { Policy } from '../policy.js';
import type { Keys } from '../redis/keys.js';
import { defineScripts } from '../redis/scripts.js';

export interface Window {
  max: number;
  windowMinutes: number;
}

/**
 * IPv6 clients are counted per /64, the prefix one end site (a host, a subscriber's network) is given; one counter
 * per address would let any client rotate through 2^64 of them. (express-rate-limit's default is /56.)
 */
export const IPV6_SUBNET = 64;

/** The rate-limit key of a client address: itself for IPv4, its /64 for IPv6. */
export const clientKey = (ip: string | undefined) => ipKeyGenerator(ip ?? '', IPV6_SUBNET);

/** A script id Redis never has: EVALSHA with it answers NOSCRIPT, on which rate-limit-redis loads its script again. */
const NOT_LOADED = '0'.repeat(40);

/**
 * rate-limit-redis loads its scripts at start and keeps the promise: when Redis did not answer then, express-rate-limit
 * printed a stack trace per limiter and every later request awaited the same rejected promise (503 until a restart).
 * A load that fails leaves NOT_LOADED instead, so the first request once Redis is back loads the script again.
 */
class RecoveringRedisStore extends RedisStore {
  override loadIncrementScript(key?: string): Promise<string> {
    return super.loadIncrementScript(key).catch(() => NOT_LOADED);
  }

  override loadGetScript(key?: string): Promise<string> {
    return super.loadGetScript(key).catch(() => NOT_LOADED);
  }
}

/**
 * A rate limit whose counters live in Redis, so every web instance shares them. Without `keyOf` it counts per
 * client IP (IPv6 grouped by /64, see IPV6_SUBNET); with it, per whatever the key names (an email, a target IP).
 */
export function limiter(redis: Redis, keys: Keys, name: string, window: Window, keyOf?: (req: Request, res: Response) => string | Promise<string>, skip?: (req: Request, res: Response) => boolean): RequestHandler {
  return rateLimit({
    windowMs: window.windowMinutes * 60_000,
    limit: window.max,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    // These two checks look at what a client sends (Forwarded, X-Forwarded-For) and print a stack trace on the
    // first one per limiter: any client could fill the log. TRUST_PROXY is validated at start instead (config.ts).
    validate: { forwardedHeader: false, xForwardedForHeader: false },
    ...(keyOf ? { keyGenerator: keyOf } : { ipv6Subnet: IPV6_SUBNET }),
    ...(skip && { skip }),
    store: new RecoveringRedisStore({
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

/** The address a challenge mail goes to, once its form validated: the challenge limiters count it (challengeLimiters). */
export const CHALLENGE_EMAIL = 'challengeEmail';

/**
 * The limits of a challenge mail, counted on the address as normalised (src/domain/email-address.ts) once a form
 * validated (a typo does not use up anyone's quota): the flow's own per-email limit (`flow`, e.g. `delist-email` with
 * rateLimits.delistPerEmail), then the caps per recipient and per recipient domain that every flow shares (delist,
 * unblock, report), so that no one address or domain can be sent more than its share whatever form and spelling is
 * used (a public mailbox provider's domain excepted: `challenge.sharedMailboxDomains`). Plain express-rate-limit middlewares: each counts the address the form step put in
 * `res.locals.challengeEmail` and skips a request without one; the first full window answers 429 and counts no later
 * one.
 */
export function challengeLimiters(redis: Redis, keys: Keys, policy: Pick<Policy, 'rateLimits' | 'challenge'>, flow: string, flowLimit: Window): RequestHandler[] {
  const limits = policy.rateLimits;
  const address = (_req: Request, res: Response) => countingAddress(String(res.locals[CHALLENGE_EMAIL]));
  const skip = (_req: Request, res: Response) => typeof res.locals[CHALLENGE_EMAIL] !== 'string';
  // A public mailbox provider's domain is not capped (challenge.sharedMailboxDomains): its cap would be one anybody
  // could use up for all its users. Counted as the provider's canonical domain (googlemail.com is gmail.com).
  const shared = new Set(policy.challenge.sharedMailboxDomains.map((d) => countingDomain(d)));
  const skipDomain = (req: Request, res: Response) => skip(req, res) || shared.has(countingDomainOf(address(req, res)));
  return [
    limiter(redis, keys, flow, flowLimit, address, skip),
    limiter(redis, keys, 'challenge-recipient', limits.challengePerRecipient, address, skip),
    limiter(redis, keys, 'challenge-domain', limits.challengePerRecipientDomain, (req, res) => countingDomainOf(address(req, res)), skipDomain),
  ];
}

/** The wait of a refused request in whole minutes, rounded up: what the pages say ("about 9 minutes"). */
export const minutesToWait = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

/**
 * countOrRefuse for a form that validated: at the first full window the visitor gets their form back with what they
 * typed (`again` renders it, told how long to wait), a 429 with Retry-After, instead of an error page. Resolves true
 * when every limiter let the submission through, false when `again` answered.
 */
export async function countOrShowForm(limiters: RequestHandler[], req: Request, res: Response, again: (limited: { minutes: number }) => void): Promise<boolean> {
  try {
    await countOrRefuse(limiters, req, res);
    return true;
  } catch (err) {
    if (!(err instanceof RateLimitedError)) throw err;
    res.status(429).set('Retry-After', String(err.retryAfterSeconds));
    again({ minutes: minutesToWait(err.retryAfterSeconds) });
    return false;
  }
}

export interface RefundableLimiter extends RequestHandler {
  /** Gives back what this limiter counted for `req`; nothing when it counted nothing (or already gave it back). */
  refund(req: Request): Promise<void>;
}

/**
 * A limiter for a form whose fields are only known after an expensive read (the report upload): it counts before the
 * read, so one client cannot have more uploads in flight than its limit, and the handler gives the count back when
 * the form did not validate (a typo never uses up the quota). Only the handler's explicit refund gives back: a
 * client that drops its connection keeps its count (express-rate-limit's skipFailedRequests would give that back).
 */
export function refundableLimiter(redis: Redis, keys: Keys, name: string, window: Window): RefundableLimiter {
  const limit = limiter(redis, keys, name, window);
  const scripts = defineScripts(redis);
  const counted = new WeakMap<Request, string>();
  const handler = ((req, res, next) =>
    limit(req, res, (err?: unknown) => {
      const key = (req as Request & { rateLimit?: { key?: unknown } }).rateLimit?.key;
      if (!err && typeof key === 'string') counted.set(req, key);
      next(err);
    })) as RefundableLimiter;
  handler.refund = async (req) => {
    const key = counted.get(req);
    if (key === undefined) return;
    counted.delete(req);
    await scripts.giveBack(keys.rateLimit(name) + key); // one off a counter that still exists (src/redis/scripts/giveBack-1.lua)
  };
  return handler;
}

/**
 * Runs limiters in order from inside a handler that validated its form first (multipart forms and drafts, whose
 * values are only known there): resolves when every one let the request through, rejects with RateLimitedError (429
 * with Retry-After) at the first full window, counting no later one.
 */
export async function countOrRefuse(limiters: RequestHandler[], req: Request, res: Response): Promise<void> {
  for (const limit of limiters) {
    await new Promise<void>((resolve, reject) => {
      void limit(req, res, (err?: unknown) => (err ? reject(err) : resolve()));
    });
  }
}
