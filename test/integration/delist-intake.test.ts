import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requestDelist, countInvalidDelist } from '../../src/features/delist/service.js';
import { INTAKE_COMMAND } from '../../src/stores/delist-intake.js';
import { RateLimitedError } from '../../src/errors.js';
import { testContext, type TestContext } from '../helpers/context.js';

/** The delist intake's group commit: submissions of one event-loop turn go to Redis as one script run. */
describe('delist intake batches', () => {
  let ctx: TestContext;
  let calls = 0;
  let lastKeyCount = 0;
  before(() => {
    ctx = testContext({
      policy: (p) => ({
        ...p,
        challenge: { ...p.challenge, resendCooldownSeconds: 60 },
        rateLimits: { ...p.rateLimits, delistPerClientIp: { max: 1000, windowMinutes: 60 }, delistPerEmail: { max: 4, windowMinutes: 60 }, delistPerTargetIp: { max: 1000, windowMinutes: 60 } },
      }),
    });
    // Count the script runs on this test's own connection (the command itself still runs against Redis).
    const redis = ctx.redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const run = redis[INTAKE_COMMAND]!.bind(ctx.redis);
    redis[INTAKE_COMMAND] = (...a: unknown[]) => {
      calls++;
      lastKeyCount = a[0] as number;
      return run(...a);
    };
  });
  after(() => ctx.cleanup());

  const stored = async () => ctx.redis.zrange(ctx.keys.requestsByTime, '0', '-1');

  it('submits one turn’s submissions in one script run, each with its own outcome, in arrival order', async () => {
    calls = 0;
    const email = 'batch@example.org';
    // Six submissions in one turn: the first three IPs create requests; the fourth repeats the first IP, whose
    // cool-down the first one started in the same run (answered like a success, creates nothing); the last two
    // exceed the per-email limit of 4 (counted in arrival order).
    const ips = ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.1', '198.51.100.4', '198.51.100.5'];
    const outcomes = await Promise.allSettled(ips.map((ip) => requestDelist(ctx, { email, ip }, new Date(), '203.0.113.9')));
    assert.equal(calls, 1, 'one script run for the whole turn');
    // 10 keys per submission (5 counters: client, email, target IP, recipient, recipient domain; the cool-down, the
    // request, its events, the by-time index, the job outbox), but the client's, the email's, the recipient's and its
    // domain's counters, the by-time index and the job outbox are the same for all six, and the repeated IP shares
    // its counter and cool-down: each key goes once.
    assert.equal(lastKeyCount, 6 * 10 - 5 * 6 - 2);
    assert.deepEqual(
      outcomes.map((o) => (o.status === 'fulfilled' ? 'ok' : o.reason instanceof RateLimitedError ? 'limited' : String(o.reason))),
      ['ok', 'ok', 'ok', 'ok', 'limited', 'limited'],
    );
    const requests = await Promise.all((await stored()).map((id) => ctx.requests.get(id)));
    assert.deepEqual(requests.map((r) => r?.ip).sort(), ['198.51.100.1', '198.51.100.2', '198.51.100.3']);
    assert.equal(await ctx.redis.xlen(ctx.keys.jobOutbox), 3, 'one challenge mail per created request');
  });

  it('mixes counting-only items (invalid forms) and submissions in one run', async () => {
    calls = 0;
    const before = (await stored()).length;
    const results = await Promise.allSettled([
      countInvalidDelist(ctx, '203.0.113.10'),
      requestDelist(ctx, { email: 'other@example.org', ip: '198.51.100.9' }, new Date(), '203.0.113.10'),
      countInvalidDelist(ctx, '203.0.113.10'),
    ]);
    assert.equal(calls, 1);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled']);
    assert.equal((await stored()).length, before + 1);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('delist-client') + '203.0.113.10'), '3', 'all three counted against the client');
  });

  it('gives a counter its window when it is created, and mends one that lost its expiry once it is over the limit', async () => {
    const email = 'ttl@example.org';
    const counter = ctx.keys.rateLimit('delist-email') + email;
    await requestDelist(ctx, { email, ip: '198.51.100.40' }, new Date(), '203.0.113.13');
    const ttl = await ctx.redis.pttl(counter);
    assert.ok(ttl > 0 && ttl <= 60 * 60_000, `a new counter expires with its window (pttl ${ttl})`);
    await ctx.redis.set(counter, '10'); // over the limit of 4, and no expiry (as if something had persisted it)
    await assert.rejects(requestDelist(ctx, { email, ip: '198.51.100.41' }, new Date(), '203.0.113.13'), RateLimitedError);
    const mended = await ctx.redis.pttl(counter);
    assert.ok(mended > 0 && mended <= 60 * 60_000, `the counter has a window again (pttl ${mended})`);
  });

  it('fails only the submission whose script step fails; the others of its run are stored', async () => {
    calls = 0;
    const before = (await stored()).length;
    // A counter key of the wrong type makes INCR fail for this email only.
    await ctx.redis.hset(ctx.keys.rateLimit('delist-email') + 'wrongtype@example.org', 'x', '1');
    const results = await Promise.allSettled([
      requestDelist(ctx, { email: 'fine1@example.org', ip: '198.51.100.50' }, new Date(), '203.0.113.14'),
      requestDelist(ctx, { email: 'wrongtype@example.org', ip: '198.51.100.51' }, new Date(), '203.0.113.14'),
      requestDelist(ctx, { email: 'fine2@example.org', ip: '198.51.100.52' }, new Date(), '203.0.113.14'),
    ]);
    assert.equal(calls, 1);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /WRONGTYPE/);
    const ips = (await Promise.all((await stored()).map((id) => ctx.requests.get(id)))).map((r) => r?.ip);
    assert.equal(ips.length, before + 2);
    assert.ok(ips.includes('198.51.100.50') && ips.includes('198.51.100.52') && !ips.includes('198.51.100.51'));
  });

  it('turns that follow each other make runs of their own', async () => {
    calls = 0;
    await requestDelist(ctx, { email: 'one@example.org', ip: '198.51.100.20' }, new Date(), '203.0.113.11');
    await requestDelist(ctx, { email: 'two@example.org', ip: '198.51.100.21' }, new Date(), '203.0.113.11');
    assert.equal(calls, 2);
  });

  it('fails every submission of a batch when Redis refuses the script, and stores none', async () => {
    const broken = testContext();
    try {
      await broken.redis.quit(); // the connection is gone: the script cannot run
      const results = await Promise.allSettled([1, 2].map((i) => requestDelist(broken, { email: `x${i}@example.org`, ip: '198.51.100.30' }, new Date(), '203.0.113.12')));
      assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
    } finally {
      await broken.jobs.close();
    }
    assert.equal((await ctx.redis.zrange(broken.keys.requestsByTime, '0', '-1')).length, 0);
  });
});
