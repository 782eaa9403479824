import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { submitMachineReport } from '../../src/features/report/service.js';
import { processIngestReport } from '../../worker/processors/ingest-report.js';
import { caseLockName } from '../../src/stores/report-counter.js';
import { newId } from '../../src/stores/requests.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { messageFromTenant } from '../helpers/messages.js';

/**
 * The report intake's transaction takes the case's lock and reads its open case in one statement, opens the case
 * when there is none, and records, attaches and counts the report in the next: reports of one case racing each
 * other still open one case and count one message once.
 */
describe('reports of one case ingested at once', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext({ dbPool: 10 });
  });
  after(() => ctx.cleanup());

  const submit = (messageId: string, ip: string) => submitMachineReport(ctx, Buffer.from(messageFromTenant({ tenant: 'tenant-race', messageId, ip })), { channel: 'api', clientIp: '127.0.0.1', apiTokenName: 'race' });

  it('six copies of one message for a case not yet open: one case, one distinct report attached, five duplicates', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => submit('<same-race@shop.example.com>', '203.0.113.60').then((r) => r.id)));
    const outcomes = await Promise.all(ids.map((requestId) => processIngestReport(ctx, { requestId })));
    assert.deepEqual([...outcomes].sort(), ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate', 'received']);
    const { rows: cases } = await sql<{ id: string }>`SELECT id FROM tickets WHERE kind = 'abuse-case'`.execute(ctx.db);
    assert.equal(cases.length, 1, 'one case opened');
    const { rows: attached } = await sql<{ report_id: string }>`SELECT report_id FROM ticket_reports WHERE ticket_id = ${cases[0]!.id}`.execute(ctx.db);
    const { rows: distinct } = await sql<{ request_id: string }>`SELECT request_id FROM reports WHERE duplicate_of IS NULL`.execute(ctx.db);
    assert.equal(distinct.length, 1);
    assert.deepEqual(attached.map((r) => r.report_id), [distinct[0]!.request_id], 'the distinct report is the case evidence');
    // A rerun of every job changes nothing.
    assert.deepEqual((await Promise.all(ids.map((requestId) => processIngestReport(ctx, { requestId })))).sort(), [...outcomes].sort());
    assert.equal(Number((await sql<{ n: string }>`SELECT count(*) AS n FROM ticket_reports`.execute(ctx.db)).rows[0]!.n), 1);
  });

  it('the lock lockedCaseIn takes orders the reports of a case: twelve copies counted at once make one distinct report', async () => {
    const at = new Date().toISOString();
    const ids = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const id = newId();
        await ctx.requests.createIn(ctx.db, { id, type: 'report', state: 'queued', email: '', ip: '203.0.113.62', createdAt: at, updatedAt: at, challengeId: '', channel: 'api', reporter: 'race', category: 'spam', parsed: '{}' }, 'received');
        return id;
      }),
    );
    await ctx.db.transaction().execute((trx) => ctx.tickets.openCaseIn(trx, 'lock-case', 'lock-first', { ip: '203.0.113.62' })); // the case is open: nothing else orders them
    const results = await Promise.all(
      ids.map((reportId, i) =>
        ctx.db.transaction().execute(async (trx) => {
          const ticket = (await ctx.tickets.lockedCaseIn(trx, 'lock-case', caseLockName('lock-case'))) ?? (await ctx.tickets.openCaseIn(trx, 'lock-case', reportId, { ip: '203.0.113.62' }));
          return ctx.reportCounter.countIn(trx, 'lock-case', { reportId, caseTicketId: ticket.id, messageId: '<lock-race@x>', sampleHash: `lock-${i}`, reporterId: `partner:${i}` }, new Date(), { locked: true });
        }),
      ),
    );
    assert.equal(results.filter((r) => r.distinct).length, 1, 'one distinct report');
    assert.deepEqual(await ctx.reportCounter.peek('lock-case'), { trusted: 1, trustedMessages: 1, trustedReporters: 12, untrusted: 0 });
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM tickets WHERE case_key = 'lock-case'`.execute(ctx.db);
    assert.equal(Number(rows[0]!.n), 1);
  });

  it('distinct messages racing into one open case are each attached once', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, (_, i) => submit(`<distinct-${i}@shop.example.com>`, '203.0.113.61').then((r) => r.id)));
    const outcomes = await Promise.all(ids.map((requestId) => processIngestReport(ctx, { requestId })));
    assert.deepEqual(outcomes, Array(8).fill('received'));
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM ticket_reports tr JOIN tickets t ON t.id = tr.ticket_id WHERE t.case_key <> 'lock-case'`.execute(ctx.db);
    assert.equal(Number(rows[0]!.n), 9, 'the first test’s one and these eight');
    const { rows: cases } = await sql<{ n: string }>`SELECT count(*) AS n FROM tickets WHERE kind = 'abuse-case'`.execute(ctx.db);
    assert.equal(Number(cases[0]!.n), 2, 'still one case for the tenant (the other is the lock test’s)');
  });
});
