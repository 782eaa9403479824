import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OUTBOX_GROUP, OutboxRelay, intentFields } from '../../src/jobs/outbox.js';
import { createRedis } from '../../src/redis/connection.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { eventually } from '../helpers/portal.js';

describe('job outbox relay', () => {
  let ctx: TestContext;
  const relays: OutboxRelay[] = [];
  const worker = () => createRedis(ctx.config.redisUrl!, 'worker');
  before(() => {
    ctx = testContext();
  });
  after(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await ctx.cleanup();
  });

  const write = (requestId: string) => ctx.redis.xadd(ctx.keys.jobOutbox, '*', ...intentFields(ctx.jobs.mailIntent('delist-challenge', requestId)));
  const mailJob = (requestId: string) => ctx.jobs.mail.getJob(`delist-challenge-${requestId}`);

  it('queues an entry as soon as it is written, then acknowledges and deletes it', async () => {
    const connection = worker();
    const relay = new OutboxRelay(ctx, connection, { blockMs: 5000 }).start();
    relays.push(relay);
    await eventually(async () => (await ctx.redis.exists(ctx.keys.jobOutbox)) === 1);
    const t0 = Date.now();
    await write('AAAAAAAAAAAAAAA1');
    const job = await eventually(() => mailJob('AAAAAAAAAAAAAAA1'), 5000);
    assert.ok(Date.now() - t0 < 4000, 'a blocking read picked it up, not the next poll');
    assert.deepEqual(job.data, { kind: 'delist-challenge', requestId: 'AAAAAAAAAAAAAAA1' });
    await eventually(async () => (await ctx.redis.xlen(ctx.keys.jobOutbox)) === 0);
    await relay.close();
    relays.pop();
    connection.disconnect();
    const consumers = (await ctx.redis.xinfo('CONSUMERS', ctx.keys.jobOutbox, OUTBOX_GROUP)) as unknown[];
    assert.equal(consumers.length, 0, 'a clean stop leaves no consumer behind');
  });

  it('takes over what a relay that died had read but not acknowledged, and makes one job of it', async () => {
    await write('AAAAAAAAAAAAAAA2');
    // A relay that read the entry and was killed before its ack: the entry stays pending under its name.
    const read = await ctx.redis.xreadgroup('GROUP', OUTBOX_GROUP, 'dead-relay', 'COUNT', 10, 'STREAMS', ctx.keys.jobOutbox, '>');
    assert.ok(read);
    // ... but it had already added the job: the second add must not make another.
    await ctx.jobs.sendMail('delist-challenge', 'AAAAAAAAAAAAAAA2');
    const connection = worker();
    const relay = new OutboxRelay(ctx, connection, { blockMs: 200, claimIdleMs: 300 }).start();
    relays.push(relay);
    await eventually(async () => (await ctx.redis.xlen(ctx.keys.jobOutbox)) === 0, 5000);
    const pending = (await ctx.redis.xpending(ctx.keys.jobOutbox, OUTBOX_GROUP)) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
    assert.equal(await ctx.jobs.mail.getJobCountByTypes('waiting', 'active', 'completed'), 2, 'one job per request, not one per add');
    await relay.close();
    relays.pop();
    connection.disconnect();
  });

  it('drops a malformed entry with a log line and goes on with the next ones', async () => {
    await ctx.redis.xadd(ctx.keys.jobOutbox, '*', 'queue', 'nope', 'name', 'x', 'jobId', 'x', 'data', '{}');
    await ctx.redis.xadd(ctx.keys.jobOutbox, '*', 'queue', 'mail', 'name', 'send-mail', 'jobId', 'y', 'data', '{not json');
    await write('AAAAAAAAAAAAAAA3');
    const relay = new OutboxRelay(ctx, ctx.redis);
    assert.equal(await relay.drain(), 1);
    await relay.close();
    assert.ok(await mailJob('AAAAAAAAAAAAAAA3'));
    assert.equal(await ctx.redis.xlen(ctx.keys.jobOutbox), 0);
  });
});
