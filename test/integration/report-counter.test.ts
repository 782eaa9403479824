import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testContext, type TestContext } from '../helpers/context.js';
import { newId } from '../../src/stores/requests.js';

/**
 * The sliding-window counter as queries over the reports table: distinct trusted reporters, duplicates once, trust
 * classes apart.
 */
describe('report counter (PostgreSQL reports table)', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext();
  });
  after(() => ctx.cleanup());

  const T0 = new Date('2026-11-16T10:00:00Z');
  let seq = 0;
  /** A report request as intake stores it; the counter writes its reports row. */
  const report = async (reporterId: string | null, messageId: string | null, sampleHash = `h-${++seq}`) => {
    const id = newId();
    const at = T0.toISOString();
    await ctx.requests.createIn(ctx.db, { id, type: 'report', state: 'queued', email: '', ip: '203.0.113.5', createdAt: at, updatedAt: at, challengeId: '', channel: 'api', reporter: reporterId ?? 'someone', category: 'spam', parsed: '{}' }, 'received');
    return { reportId: id, messageId, sampleHash, reporterId };
  };

  it('counts one partner with many messages as one reporter', async () => {
    let last;
    for (let n = 0; n < 5; n++) last = await ctx.reportCounter.count('one', await report('partner:A', `<m${n}@x>`), T0);
    assert.deepEqual(last, { distinct: true, canonicalId: last!.canonicalId, trusted: 1, trustedMessages: 5, trustedReporters: 1, untrusted: 0 });
  });

  it('counts one message reported by many reporters as one message', async () => {
    const first = await ctx.reportCounter.count('same', await report('partner:A', '<same@x>'), T0);
    let last;
    for (const r of ['partner:B', 'partner:C', 'web:x@example.org', 'partner:D']) last = await ctx.reportCounter.count('same', await report(r, '<same@x>'), T0);
    assert.equal(last!.distinct, false);
    assert.equal(last!.canonicalId, first.canonicalId);
    assert.deepEqual({ ...last, canonicalId: '' }, { distinct: false, canonicalId: '', trusted: 1, trustedMessages: 1, trustedReporters: 5, untrusted: 0 });
  });

  it('counts five reporters with five messages as five, whatever the order of duplicates', async () => {
    await ctx.reportCounter.count('five', await report('partner:A', '<1@x>'), T0);
    await ctx.reportCounter.count('five', await report('partner:B', '<1@x>'), T0);
    await ctx.reportCounter.count('five', await report('partner:B', '<2@x>'), T0);
    await ctx.reportCounter.count('five', await report('partner:C', '<3@x>'), T0);
    await ctx.reportCounter.count('five', await report('partner:D', '<4@x>'), T0);
    assert.equal((await ctx.reportCounter.peek('five', T0)).trusted, 4);
    const fifth = await ctx.reportCounter.count('five', await report('partner:E', '<5@x>'), T0);
    assert.equal(fifth.trusted, 5);
  });

  it('never lets an untrusted copy make a trusted report a duplicate (a sender cannot pre-report its own mail)', async () => {
    for (let n = 0; n < 5; n++) await ctx.reportCounter.count('pre', await report(null, `<spam${n}@x>`, `hash${n}`), T0);
    let last;
    for (let n = 0; n < 5; n++) last = await ctx.reportCounter.count('pre', await report(`partner:${n}`, `<spam${n}@x>`, `hash${n}`), T0);
    assert.equal(last!.distinct, true);
    assert.deepEqual({ ...last, canonicalId: '' }, { distinct: true, canonicalId: '', trusted: 5, trustedMessages: 5, trustedReporters: 5, untrusted: 5 });
  });

  it('counts the same report once when its job runs again, and dedupes by sample when there is no Message-ID', async () => {
    const r = await report('partner:A', null, 'same-sample');
    const a = await ctx.reportCounter.count('retry', r, T0);
    const b = await ctx.reportCounter.count('retry', r, T0);
    assert.deepEqual(a, b);
    const copy = await ctx.reportCounter.count('retry', await report('partner:B', null, 'same-sample'), T0);
    assert.equal(copy.distinct, false);
    assert.equal(copy.trustedMessages, 1);
  });

  it('forgets reports older than the window', async () => {
    for (let n = 0; n < 5; n++) await ctx.reportCounter.count('old', await report(`partner:${n}`, `<o${n}@x>`), T0);
    await ctx.reportCounter.count('old', await report(null, '<u@x>'), T0);
    assert.deepEqual(await ctx.reportCounter.peek('old', T0), { trusted: 5, trustedMessages: 5, trustedReporters: 5, untrusted: 1 });
    const later = new Date(T0.getTime() + 25 * 3_600_000);
    assert.deepEqual(await ctx.reportCounter.peek('old', later), { trusted: 0, trustedMessages: 0, trustedReporters: 0, untrusted: 0 });
    const next = await ctx.reportCounter.count('old', await report('partner:new', '<new@x>'), later);
    assert.equal(next.trusted, 1);
  });

  it('keeps each report as one row of the reports table, a duplicate pointing at its original', async () => {
    const a = await report('partner:A', '<row@x>');
    const b = await report('partner:B', '<ROW@x>');
    await ctx.reportCounter.count('rows', a, T0);
    await ctx.reportCounter.count('rows', b, T0);
    const rows = await ctx.db.selectFrom('reports').select(['request_id', 'duplicate_of', 'trusted', 'reporter_key', 'case_key']).where('case_key', '=', 'rows').orderBy('received_at').execute();
    assert.deepEqual(rows.map((r) => [r.request_id, r.duplicate_of, r.trusted, r.reporter_key]).sort(), [[a.reportId, null, true, 'partner:A'], [b.reportId, a.reportId, true, 'partner:B']].sort());
  });

  it('counts two copies of one message racing each other once', async () => {
    const copies = await Promise.all(Array.from({ length: 6 }, (_, i) => report(`partner:${i}`, '<race@x>')));
    const results = await Promise.all(copies.map((c) => ctx.reportCounter.count('race', c, T0)));
    assert.equal(results.filter((r) => r.distinct).length, 1);
    assert.deepEqual(await ctx.reportCounter.peek('race', T0), { trusted: 1, trustedMessages: 1, trustedReporters: 6, untrusted: 0 });
  });
});
