import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface CountInput {
  reportId: string;
  messageId: string | null;
  sampleHash: string;
  /** Who counts as one reporter (partner name, normalised confirmed email) when the report is trusted; null when not. */
  reporterId: string | null;
}

export interface WindowCounts {
  /** What drives escalation: distinct trusted reporters, each with a distinct message (the smaller of the two). */
  trusted: number;
  /** Distinct messages among trusted reports in the window. */
  trustedMessages: number;
  /** Distinct trusted reporters in the window. */
  trustedReporters: number;
  /** Distinct messages among untrusted reports in the window (kept as evidence, never escalated on). */
  untrusted: number;
}

export interface CountResult extends WindowCounts {
  /** False when the same Message-ID or the same sample was already counted for this case in the same trust class. */
  distinct: boolean;
  /** The report this one duplicates (itself when distinct). */
  canonicalId: string;
}

/**
 * Dedupe and count in one script, per trust class (trusted, untrusted: an untrusted copy never makes a trusted
 * report a duplicate). A report is a duplicate when its Message-ID or its sample hash was seen in its class;
 * otherwise its message joins the class's sliding window. A trusted report also puts its reporter in the
 * window's reporter set (a duplicate too: a second reporter of the same message is still a second reporter, but
 * the message counts once). Running it again for the same report changes nothing that is counted.
 *
 * KEYS: 1 Message-ID dedupe, 2 sample dedupe, 3 message window of the class, 4 trusted reporter window,
 * 5 trusted message window, 6 untrusted message window.
 */
const COUNT = `
local seen = redis.call('GET', KEYS[1]) or redis.call('GET', KEYS[2])
local distinct = 1
local canonical = ARGV[1]
if seen and seen ~= ARGV[1] then
  distinct = 0
  canonical = seen
else
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[4])
  redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[4])
end
redis.call('ZADD', KEYS[3], 'GT', ARGV[2], canonical)
redis.call('PEXPIRE', KEYS[3], ARGV[5])
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[4], 'GT', ARGV[2], ARGV[6])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
for i = 4, 6 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[3]) end
return {distinct, canonical, redis.call('ZCARD', KEYS[4]), redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6])}
`;

const sha = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 32);

export class ReportCounter {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly windowHours: number,
  ) {}

  private get windowMs(): number {
    return this.windowHours * 3_600_000;
  }

  async count(caseKey: string, input: CountInput, now = new Date()): Promise<CountResult> {
    const trusted = input.reporterId !== null;
    const dedupeTtl = Math.ceil((this.windowMs * 7) / 1000);
    const sampleKey = trusted ? this.keys.trustedDedupeSample(caseKey, input.sampleHash) : this.keys.dedupeSample(caseKey, input.sampleHash);
    const msgHash = input.messageId ? sha(input.messageId.trim().replace(/^<|>$/g, '').toLowerCase()) : null;
    // Without a Message-ID the sample hash alone decides (the script then reads the same key twice).
    const msgKey = msgHash ? (trusted ? this.keys.trustedDedupeMessageId(caseKey, msgHash) : this.keys.dedupeMessageId(caseKey, msgHash)) : sampleKey;
    const trustedWindow = this.keys.trustedReportWindow(caseKey);
    const untrustedWindow = this.keys.tenantReportWindow(caseKey);
    const [distinct, canonicalId, reporters, trustedMessages, untrusted] = (await this.redis.eval(
      COUNT,
      6,
      msgKey,
      sampleKey,
      trusted ? trustedWindow : untrustedWindow,
      this.keys.trustedReporterWindow(caseKey),
      trustedWindow,
      untrustedWindow,
      input.reportId,
      now.getTime(),
      now.getTime() - this.windowMs,
      dedupeTtl,
      this.windowMs * 2,
      input.reporterId ?? '',
    )) as [number, string, number, number, number];
    return { distinct: distinct === 1, canonicalId, ...counts(reporters, trustedMessages, untrusted) };
  }

  /** The case's counts in the window now, without counting anything (for staff pages). */
  async peek(caseKey: string, now = new Date()): Promise<WindowCounts> {
    const from = now.getTime() - this.windowMs;
    const [reporters, trustedMessages, untrusted] = await Promise.all([
      this.redis.zcount(this.keys.trustedReporterWindow(caseKey), `(${from}`, '+inf'),
      this.redis.zcount(this.keys.trustedReportWindow(caseKey), `(${from}`, '+inf'),
      this.redis.zcount(this.keys.tenantReportWindow(caseKey), `(${from}`, '+inf'),
    ]);
    return counts(reporters, trustedMessages, untrusted);
  }
}

const counts = (reporters: number, trustedMessages: number, untrusted: number): WindowCounts => ({
  trusted: Math.min(reporters, trustedMessages),
  trustedMessages,
  trustedReporters: reporters,
  untrusted,
});
