import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface CountResult {
  /** False when the same Message-ID or the same sample was already counted for this tenant. */
  distinct: boolean;
  /** The report this one duplicates (itself when distinct). */
  canonicalId: string;
  /** Distinct reports against the tenant in the sliding window, this one included. */
  inWindow: number;
}

/**
 * Dedupe and count in one script: a report is a duplicate when its Message-ID or its sample hash was seen for the
 * tenant; otherwise it joins the tenant's sliding window. Running it again for the same report changes nothing.
 */
const COUNT = `
local seen = redis.call('GET', KEYS[1]) or redis.call('GET', KEYS[2])
if seen and seen ~= ARGV[1] then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
  return {0, seen, redis.call('ZCARD', KEYS[3])}
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[5])
return {1, ARGV[1], redis.call('ZCARD', KEYS[3])}
`;

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);

export class ReportCounter {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly windowHours: number,
  ) {}

  async count(tenant: string, reportId: string, messageId: string | null, sampleHash: string, now = new Date()): Promise<CountResult> {
    const windowMs = this.windowHours * 3_600_000;
    const dedupeTtl = Math.ceil((windowMs * 7) / 1000);
    const sampleKey = this.keys.dedupeSample(tenant, sampleHash);
    // Without a Message-ID the sample hash alone decides (the script then reads the same key twice).
    const msgKey = messageId ? this.keys.dedupeMessageId(tenant, sha(messageId.trim().replace(/^<|>$/g, '').toLowerCase())) : sampleKey;
    const [distinct, canonicalId, inWindow] = (await this.redis.eval(
      COUNT,
      3,
      msgKey,
      sampleKey,
      this.keys.tenantReportWindow(tenant),
      reportId,
      now.getTime(),
      now.getTime() - windowMs,
      dedupeTtl,
      windowMs * 2,
    )) as [number, string, number];
    return { distinct: distinct === 1, canonicalId, inWindow };
  }
}
