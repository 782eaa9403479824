import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReportTrust } from '../../src/domain/report-trust.js';
import { submitMachineReport, type ReportOrigin } from '../../src/features/report/service.js';
import type { Policy } from '../../src/policy.js';
import { processIngestReport } from '../../worker/processors/ingest-report.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { makeKey, policyKey, signed } from '../helpers/dkim.js';
import { messageFromTenant } from '../helpers/messages.js';

/** Our outbound signing key: the originals carry its signature, so the tenant is vouched for. */
const ours = makeKey('outbound.example.net', 'pm1');
const partner = (name: string, p: Partial<Policy['partners'][number]>): Policy['partners'][number] => ({ name, clientIps: [], dkimDomains: [], apiTokens: [], ...p });
const withTrust = (p: Policy): Policy => ({
  ...p,
  partners: [partner('Alpha FBL', { apiTokens: ['alpha'] }), partner('Beta FBL', { apiTokens: ['beta'] }), partner('Gamma FBL', { apiTokens: ['gamma'] }), partner('Delta FBL', { apiTokens: ['delta'] }), partner('Epsilon FBL', { apiTokens: ['epsilon'] })],
  network: { ...p.network, dkimKeys: [policyKey(ours)] },
});
const PARTNER_TOKENS = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];

/** An ARF report of one partner's user about one of our signed messages, with the given Feedback-Type. */
async function arf(tenant: string, n: number, feedbackType: string): Promise<string> {
  const original = await signed(messageFromTenant({ tenant, messageId: `<${feedbackType}-${tenant}-${n}@shop.example.com>` }), ours);
  return [
    'From: fbl@isp.example', 'To: abuse@portal.example.net', 'Subject: FBL report', `Message-ID: <r-${feedbackType}-${tenant}-${n}@isp.example>`, 'Date: Mon, 16 Nov 2026 10:05:00 +0000',
    'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'This is a feedback report.', '',
    '--b1', 'Content-Type: message/feedback-report', '', `Feedback-Type: ${feedbackType}`, 'User-Agent: FBL/1.0', 'Version: 1', 'Source-IP: 203.0.113.10', '',
    '--b1', 'Content-Type: message/rfc822', '', original, '--b1--', '',
  ].join('\r\n');
}

describe('feedback types weigh differently: only abuse-like reports move a tenant', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext({ policy: withTrust });
  });
  after(() => ctx.cleanup());

  /** Five trusted reports (five partners, five messages our key signed) of one feedback type; the last one's request. */
  async function fiveTrusted(tenant: string, feedbackType: string) {
    let last = '';
    for (const [n, token] of PARTNER_TOKENS.entries()) {
      const origin: ReportOrigin = { channel: 'api', clientIp: '198.51.100.40', apiTokenName: token };
      const { id } = await submitMachineReport(ctx, Buffer.from(await arf(tenant, n, feedbackType)), origin);
      await processIngestReport(ctx, { requestId: id }, new Date());
      last = id;
    }
    return (await ctx.requests.get(last))!;
  }
  const assignmentOf = async (tenant: string) => (await ctx.routing.snapshot()).assignments.find((a) => a.kind === 'tenant' && a.key === tenant);

  it('records five not-spam reports from trusted partners, shows them in the case, and does not move the tenant', async () => {
    const version = await ctx.routing.version();
    const last = await fiveTrusted('quiet-co', 'not-spam');
    const trust = JSON.parse(last.trust!) as ReportTrust & { weightNote?: string };
    assert.equal(trust.reporter.level, 'partner', 'the reporter is trusted');
    assert.equal(trust.tenant.level, 'verified', 'the tenant is vouched for');
    assert.equal(trust.counts, false, 'but a not-spam report does not count');
    assert.equal(trust.weightNote, 'its feedback type "not-spam" weighs 0 in abuse.feedbackWeights');
    assert.equal(last.state, 'received');
    assert.equal(last.reasonCode, 'report-evidence');
    assert.match(last.reason!, /does not count toward automatic action because its feedback type "not-spam" weighs 0/);
    assert.deepEqual(await ctx.reportCounter.peek('quiet-co'), { trusted: 0, trustedMessages: 0, trustedReporters: 0, untrusted: 5 });
    assert.equal(await assignmentOf('quiet-co'), undefined);
    assert.equal(await ctx.routing.version(), version, 'no routing change was published');
    const ticket = await ctx.tickets.get(last.ticketId!);
    assert.equal((await ctx.tickets.reports(ticket!.id)).length, 5, 'all five are evidence in the tenant\'s case');
  });

  it('moves the tenant to high-risk on five abuse reports of the same kind', async () => {
    const last = await fiveTrusted('loud-co', 'abuse');
    assert.equal(JSON.parse(last.trust!).counts, true);
    assert.equal(last.reasonCode, 'report-counted-escalated');
    assert.equal((await assignmentOf('loud-co'))?.pool, 'high-risk');
  });

  it('counts only the abuse reports when a tenant gets both: four abuse plus five opt-out do not move it', async () => {
    for (const [n, token] of PARTNER_TOKENS.slice(0, 4).entries()) {
      const { id } = await submitMachineReport(ctx, Buffer.from(await arf('mixed-co', n, 'abuse')), { channel: 'api', clientIp: '198.51.100.40', apiTokenName: token });
      await processIngestReport(ctx, { requestId: id }, new Date());
    }
    await fiveTrusted('mixed-co', 'opt-out');
    assert.deepEqual(await ctx.reportCounter.peek('mixed-co'), { trusted: 4, trustedMessages: 4, trustedReporters: 4, untrusted: 5 });
    assert.equal(await assignmentOf('mixed-co'), undefined);
  });
});
