import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { submitMachineReport } from '../../src/features/report/service.js';
import { enforceRetention } from '../../src/jobs/housekeeping.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { messageFromTenant } from '../helpers/messages.js';

/** Evidence is kept compressed, for the policy's retention, then deleted by the worker's housekeeping; the report stays. */
describe('evidence and draft retention', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, samples: { ...p.samples, retentionDays: 30 } }) });
  });
  after(() => ctx.cleanup());

  it('stores a sample gzip-compressed with its retention date, gives it back whole, and deletes it after that date', async () => {
    const raw = Buffer.from(messageFromTenant({ tenant: 'tenant-keep', messageId: '<keep@shop.example.com>', bodyBytes: 20_000 }));
    const now = new Date();
    const { id } = await submitMachineReport(ctx, raw, { channel: 'api', clientIp: '192.0.2.1', apiTokenName: 'retention' }, now);
    const row = await ctx.db.selectFrom('evidence').selectAll().where('report_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.compression, 'gzip');
    assert.equal(row.size_bytes, raw.length);
    assert.ok(row.sample.length < raw.length / 2, `stored ${row.sample.length} bytes of ${raw.length}`);
    assert.equal(row.retain_until.getTime(), now.getTime() + 30 * 86_400_000);
    assert.deepEqual(await ctx.requests.sample(id), raw);

    assert.equal((await enforceRetention(ctx, new Date(now.getTime() + 29 * 86_400_000))).samples, 0);
    assert.ok(await ctx.requests.sample(id));
    assert.equal((await enforceRetention(ctx, new Date(now.getTime() + 31 * 86_400_000))).samples, 1);
    assert.equal(await ctx.requests.sample(id), null);
    assert.ok(await ctx.requests.get(id), 'the report itself stays');
  });

  it('reads a draft as gone after its hour, and deletes it', async () => {
    const now = new Date();
    await ctx.reportDrafts.create({ id: 'DRAFTDRAFTDRAFT1', email: 'd@example.org', category: 'spam', comment: '', lang: 'en', summary: {} }, Buffer.from('x'), 3600, now);
    assert.ok(await ctx.reportDrafts.get('DRAFTDRAFTDRAFT1', now));
    const later = new Date(now.getTime() + 3601_000);
    assert.equal(await ctx.reportDrafts.get('DRAFTDRAFTDRAFT1', later), null);
    assert.equal((await enforceRetention(ctx, later)).drafts, 1);
  });
});
