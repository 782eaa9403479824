import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addListing } from '../../src/features/blocklist/service.js';
import { confirmDelist, requestDelist } from '../../src/features/delist/service.js';
import { PermanentJobError, processDelist } from '../../worker/processors/delist.js';
import { newId } from '../../src/stores/requests.js';
import { processExpireEntry } from '../../worker/processors/expire-entry.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { relayOutbox, delistToken, requestIdsAt } from '../helpers/portal.js';
import { OutboxRelay } from '../../src/jobs/outbox.js';
import { confirmReport, createDraft, submitDraft } from '../../src/features/report/service.js';
import { messageFromTenant } from '../helpers/messages.js';

describe('worker jobs', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext();
  });
  after(() => ctx.cleanup());

  async function confirmedRequest(ip: string): Promise<string> {
    const now = new Date();
    await requestDelist(ctx, { email: `${ip.replace(/[.:]/g, '-')}@example.com`, ip }, now);
    const id = (await requestIdsAt(ctx, now))[0]!;
    return confirmDelist(ctx, await delistToken(ctx, id));
  }

  it('applies a delist exactly once when the job runs twice', async () => {
    await addListing(ctx, { target: '198.51.100.0/25', category: 'spam-source', source: 'test', by: 'test' });
    const id = await confirmedRequest('198.51.100.9');
    const before = await ctx.routing.version();
    assert.equal(await processDelist(ctx, { requestId: id }), 'delisted');
    assert.equal(await processDelist(ctx, { requestId: id }), 'delisted');
    assert.equal(await ctx.routing.version(), before + 1);
    assert.equal(await ctx.blocklist.selfDelistsEver('198.51.100.9'), 1);
    const events = await ctx.requests.events(id);
    assert.equal(events.filter((e) => e.state === 'delisted').length, 1);
    assert.equal(await relayOutbox(ctx), 4, 'the listing\'s expiry, the challenge mail, the delist job and the result mail came through the job outbox');
    assert.equal(await ctx.jobs.mail.getJobCountByTypes('waiting', 'delayed', 'active', 'completed'), 2);
  });

  it('confirms a link once when two confirms race, and writes one delist job with the state change', async () => {
    const now = new Date();
    await requestDelist(ctx, { email: 'race@example.com', ip: '198.51.100.77' }, now);
    await relayOutbox(ctx);
    const id = (await requestIdsAt(ctx, now))[0]!;
    const token = await delistToken(ctx, id);
    const results = await Promise.allSettled([confirmDelist(ctx, token), confirmDelist(ctx, token), confirmDelist(ctx, token)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /already been used/);
    assert.equal((await ctx.requests.get(id))!.state, 'queued');
    assert.equal((await ctx.requests.events(id)).filter((e) => e.state === 'queued').length, 1);
    assert.equal(await OutboxRelay.waiting(ctx.db), 1, 'the job is there before any worker ran');
    assert.equal(await relayOutbox(ctx), 1);
    assert.ok(await ctx.jobs.requests.getJob(`delist-${id}`));
  });

  it('queues a confirmed web report with its ingest job in one step, once', async () => {
    const draft = await createDraft(ctx, { email: 'reporter@example.org', category: 'spam', comment: '', sample: Buffer.from(messageFromTenant({ tenant: 'tenant-jobs', messageId: '<jobs-1@shop.example.com>' })) });
    const now = new Date();
    await submitDraft(ctx, draft, now);
    assert.equal(await relayOutbox(ctx), 1, 'the challenge mail was written to the outbox with the request');
    const id = (await requestIdsAt(ctx, now))[0]!;
    assert.ok(await ctx.jobs.mail.getJob(`report-challenge-${id}`));
    const token = ctx.challenges.tokenFor((await ctx.requests.get(id))!.challengeId);
    assert.equal(await confirmReport(ctx, token), id);
    await assert.rejects(confirmReport(ctx, token), /already been used/);
    assert.equal((await ctx.requests.get(id))!.state, 'queued');
    assert.equal(await OutboxRelay.waiting(ctx.db), 1, 'one ingest job, written with the state change');
    assert.equal(await relayOutbox(ctx), 1);
    assert.ok(await ctx.jobs.requests.getJob(`report-${id}`));
  });

  it('fails a job for an unknown request permanently, with a reason', async () => {
    await assert.rejects(processDelist(ctx, { requestId: 'AAAAAAAAAAAAAAAA' }), /does not exist/);
  });

  it("fails a delist job for another flow's request permanently, leaving that request as it was", async () => {
    const id = newId();
    const at = new Date().toISOString();
    await ctx.db.insertInto('requests').values({ id, type: 'report', state: 'queued', email: 'r@example.com', ip: '192.0.2.44', created_at: at, updated_at: at }).execute();
    await assert.rejects(processDelist(ctx, { requestId: id }), (err: Error) => err instanceof PermanentJobError && /a report request, not a delist request/.test(err.message));
    assert.equal((await ctx.requests.get(id))!.state, 'queued');
  });

  it('doubles the listing duration with each self-delist: 1, 1, 2, 4 days', async () => {
    const ip = '198.51.100.120';
    const days: number[] = [];
    for (let n = 0; n < 4; n++) {
      const { entry } = await addListing(ctx, { target: ip, category: 'spam-source', source: 'test', by: 'test' });
      days.push(Math.round((Date.parse(entry.expiresAt!) - Date.parse(entry.listedAt)) / 86_400_000));
      await ctx.blocklist.recordSelfDelistIn(ctx.db, ip, `r${n}`, new Date());
    }
    assert.deepEqual(days, [1, 1, 2, 4]);
  });

  it('schedules the expiry of a time-bound listing as a delayed job', async () => {
    await addListing(ctx, { target: '192.0.2.0/28', category: 'manual', expires: '2h', source: 'test', by: 'test' });
    await relayOutbox(ctx);
    const delayed = await ctx.jobs.maintenance.getDelayed();
    const job = delayed.find((j) => j.data.key === '192.0.2.0/28');
    assert.ok(job);
    assert.ok(Math.abs(job.opts.delay! - 2 * 3600_000) < 5_000);
  });

  it('removes an expired listing through the publisher, but leaves one that was listed again', async () => {
    const { entry } = await addListing(ctx, { target: '192.0.2.64/28', category: 'manual', expires: '30m', source: 'test', by: 'test' });
    const later = new Date(Date.parse(entry.expiresAt!) + 1000);
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: entry.cidr, stamp: '2000-01-01T00:00:00.000Z' }, later), 'replaced');
    const version = await ctx.routing.version();
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: entry.cidr, stamp: entry.listedAt }, later), 'expired');
    assert.equal(await ctx.blocklist.getListing(entry.cidr), null);
    assert.equal(await ctx.routing.version(), version + 1);
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: entry.cidr, stamp: entry.listedAt }, later), 'gone');
  });

  it('ignores an expired listing in lookups even before its expiry job ran', async () => {
    const { entry } = await addListing(ctx, { target: '192.0.2.128/28', category: 'manual', expires: '30m', source: 'test', by: 'test' });
    const { parseAddress } = await import('../../src/domain/ip.js');
    const later = new Date(Date.parse(entry.expiresAt!) + 1000);
    assert.equal((await ctx.blocklist.lookup(parseAddress('192.0.2.130'))).listed, true);
    assert.equal((await ctx.blocklist.lookup(parseAddress('192.0.2.130'), later)).listed, false);
  });
});
