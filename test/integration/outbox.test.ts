import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { OutboxRelay, markDone } from '../../src/jobs/outbox.js';
import { deleteByPattern } from '../../src/redis/connection.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { eventually, listenOptions, outboxEntries } from '../helpers/portal.js';

/** The job outbox table and its relay into BullMQ (docs/architecture.md, "The job outbox"). */
describe('job outbox (PostgreSQL table, relayed into BullMQ)', () => {
  let ctx: TestContext;
  const relays: OutboxRelay[] = [];
  before(() => {
    ctx = testContext();
  });
  after(async () => {
    await Promise.all(relays.map((r) => r.close()));
    await ctx.cleanup();
  });

  const write = (requestId: string) => ctx.db.transaction().execute((trx) => ctx.jobs.sendMailIn(trx, 'delist-challenge', requestId));
  const mailJob = (requestId: string) => ctx.jobs.mail.getJob(`delist-challenge-${requestId}`);
  const entry = async (requestId: string) => (await outboxEntries(ctx)).find((e) => e.job_id === `delist-challenge-${requestId}`);

  it('is woken by the NOTIFY of a committed insert, not by its slow poll, and marks the entry handed', async () => {
    const relay = new OutboxRelay(ctx, { listen: await listenOptions(ctx), pollMs: 60_000, sweepMs: 60_000 }).start();
    relays.push(relay);
    await new Promise((r) => setTimeout(r, 300)); // its first (empty) pass, then it waits for a notification
    const t0 = Date.now();
    await write('AAAAAAAAAAAAAAA1');
    const job = await eventually(() => mailJob('AAAAAAAAAAAAAAA1'), 10_000);
    assert.ok(Date.now() - t0 < 10_000, 'woken by the notification (the poll is a minute)');
    assert.deepEqual(job.data, { kind: 'delist-challenge', requestId: 'AAAAAAAAAAAAAAA1' });
    await eventually(async () => (await entry('AAAAAAAAAAAAAAA1'))?.handed_at);
    assert.equal((await entry('AAAAAAAAAAAAAAA1'))?.done_at, null, 'handed over is not done: its job has not run');
    await relay.close();
    relays.pop();
  });

  it('writes one entry for the same job twice, and two relays at once make one job of each entry', async () => {
    for (let i = 0; i < 30; i++) {
      await write(`BBBBBBBBBBBBBB${String(i).padStart(2, '0')}`);
      await write(`BBBBBBBBBBBBBB${String(i).padStart(2, '0')}`);
    }
    const ours = async () => (await outboxEntries(ctx)).filter((e) => e.job_id.startsWith('delist-challenge-BBBB'));
    assert.equal((await ours()).length, 30);
    const [a, b] = [new OutboxRelay(ctx, { batch: 7 }), new OutboxRelay(ctx, { batch: 7 })];
    const [na, nb] = await Promise.all([a.drain(), b.drain()]);
    assert.equal(na + nb, 30, 'each entry handed over by one relay (SKIP LOCKED)');
    assert.ok((await ours()).every((e) => e.handed_at));
    const jobs = await ctx.jobs.mail.getJobs(['waiting', 'active', 'completed']);
    assert.equal(jobs.filter((j) => j.id?.startsWith('delist-challenge-BBBB')).length, 30);
    // A relay that hands an entry over again (it died before marking it) adds no second job: the job id is fixed.
    await ctx.db.updateTable('job_outbox').set({ handed_at: null }).where('job_id', 'like', 'delist-challenge-BBBB%').execute();
    assert.equal(await new OutboxRelay(ctx).drain(), 30);
    assert.equal((await ctx.jobs.mail.getJobs(['waiting', 'active', 'completed'])).filter((j) => j.id?.startsWith('delist-challenge-BBBB')).length, 30);
  });

  it('leaves no entry when the change that calls for the job rolls back', async () => {
    await assert.rejects(
      ctx.db.transaction().execute(async (trx) => {
        await ctx.jobs.sendMailIn(trx, 'delist-challenge', 'CCCCCCCCCCCCCCC1');
        throw new Error('the change failed');
      }),
      /the change failed/,
    );
    assert.equal(await entry('CCCCCCCCCCCCCCC1'), undefined);
  });

  it('hands an entry over again when its job is gone from BullMQ (Redis emptied); a finished job\'s entry is done', async () => {
    await write('DDDDDDDDDDDDDDD1');
    await write('DDDDDDDDDDDDDDD2');
    const relay = new OutboxRelay(ctx, { sweepAfterMs: 0 });
    await relay.drain();
    // The second job finished (its worker marks its entry done); then Redis loses everything of this prefix.
    await markDone(ctx.db, 'mail', 'delist-challenge-DDDDDDDDDDDDDDD2');
    await deleteByPattern(ctx.redis, ctx.keys.all);
    assert.equal(await mailJob('DDDDDDDDDDDDDDD1'), undefined);
    const swept = await relay.sweep(new Date(Date.now() + 1000));
    assert.ok(swept.rehanded >= 1);
    assert.ok(await mailJob('DDDDDDDDDDDDDDD1'), 'the lost job is back');
    assert.equal(await mailJob('DDDDDDDDDDDDDDD2'), undefined, 'a done entry is not handed over again');
    // A job that is still there is left alone.
    const again = await relay.sweep(new Date(Date.now() + 1000));
    assert.equal(again.rehanded, 0);
  });

  it('finds a lost job behind more long-delayed expiry jobs than one sweep checks (each sweep moves on past the live ones)', async () => {
    const runAt = new Date(Date.now() + 3 * 86_400_000).toISOString();
    await ctx.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 12; i++) await ctx.jobs.addIn(trx, ctx.jobs.expireIntent({ dataset: 'blocklist', key: `198.18.${i}.0/24`, stamp: 'sweep' }, runAt));
    });
    const relay = new OutboxRelay(ctx, { sweepAfterMs: 0, batch: 5 });
    await relay.drain();
    await write('EEEEEEEEEEEEEEE1');
    await relay.drain();
    // The mail job is lost; the 12 delayed expiry jobs, handed over first, are still in BullMQ ahead of it.
    await (await ctx.jobs.job('mail', 'delist-challenge-EEEEEEEEEEEEEEE1'))!.remove();
    let rehanded = 0;
    for (let sweep = 0; sweep < 4 && rehanded === 0; sweep++) rehanded += (await relay.sweep(new Date(Date.now() + 1000 * (sweep + 1)))).rehanded;
    assert.equal(rehanded, 1, 'the lost job was found within a few sweeps of 5 entries');
    assert.ok(await mailJob('EEEEEEEEEEEEEEE1'), 'the lost job is back');
  });

  it('drops a malformed entry (unknown queue) with a log line, marking it done', async () => {
    await ctx.db.insertInto('job_outbox').values({ queue: 'nope', job_name: 'x', job_id: 'x', payload: '{}' }).execute();
    await new OutboxRelay(ctx).drain();
    const bad = (await outboxEntries(ctx)).find((e) => e.queue === 'nope');
    assert.ok(bad?.done_at);
  });

  it('delays a job with a start time by the time left (an entry expiry)', async () => {
    const runAt = new Date(Date.now() + 2 * 3_600_000);
    await ctx.db.transaction().execute((trx) => ctx.jobs.addIn(trx, ctx.jobs.expireIntent({ dataset: 'blocklist', key: '192.0.2.0/24', stamp: 's' }, runAt.toISOString())));
    await new OutboxRelay(ctx).drain();
    const job = (await ctx.jobs.maintenance.getDelayed()).find((j) => j.data.key === '192.0.2.0/24');
    assert.ok(job);
    assert.ok(Math.abs(job.opts.delay! - 2 * 3_600_000) < 5_000);
  });
});
