import type { Context } from '../../src/context.js';
import { escalate } from '../../src/domain/escalation.js';
import { weighTrust } from '../../src/domain/feedback-weight.js';
import type { ReportSummary } from '../../src/features/report/service.js';
import { assignPool, getAssignment } from '../../src/features/pools/service.js';
import type { IngestReportJob } from '../../src/jobs/contract.js';
import { FINAL_STATES } from '../../src/stores/requests.js';
import { reporterLabel, tenantLabel } from '../../src/domain/report-trust.js';
import { assessReport, type TrustDeps } from '../../src/features/report/trust.js';
import { PermanentJobError, reasonFields } from './delist.js';

/**
 * One abuse report: decide whom to believe (reporter, tenant: see src/domain/report-trust.ts), count it once
 * against its case in its trust class (same Message-ID or same sample counts once), attach it to the case as
 * evidence, and escalate per policy on the trusted count only. Every step is idempotent, so a retried job changes
 * nothing twice; automated decisions go to the audit log with their reason.
 */
export async function processIngestReport(ctx: Context, job: IngestReportJob, now = new Date(), deps: TrustDeps = {}): Promise<string> {
  const request = await ctx.requests.get(job.requestId);
  if (!request || request.type !== 'report') throw new PermanentJobError(`report ${job.requestId} does not exist`);
  if (FINAL_STATES.includes(request.state)) return finish(ctx, request.id, request.email, request.state);

  const summary = JSON.parse(request.parsed ?? '{}') as ReportSummary;
  const trust = weighTrust(ctx.policy.abuse.feedbackWeights, summary.feedbackType, await assessReport(ctx.policy, request, summary, await ctx.requests.sample(request.id), deps));
  const caseKey = summary.tenant ?? `ip-${summary.sourceIp}`;
  // The report's row is written here, once (a rerun finds it and counts nothing twice).
  const counted = await ctx.reportCounter.count(caseKey, { reportId: request.id, messageId: trust.messageIdentity ?? summary.messageId, sampleHash: summary.sampleHash, reporterId: trust.counts ? trust.reporterId : null, trustReason: reporterLabel(trust.reporter) }, now);
  const ticket = await ctx.tickets.caseFor(caseKey, request.id, { ...(summary.tenant ? { tenant: summary.tenant } : { ip: summary.sourceIp }), category: request.category ?? 'spam' }, now);
  await ctx.tickets.attachReport(ticket.id, counted.canonicalId, now);

  const decisions: string[] = [];
  if (trust.counts && trust.tenant.level === 'verified') {
    const tenant = trust.tenant.tenant;
    const current = await getAssignment(ctx, 'tenant', tenant);
    for (const action of escalate(ctx.policy, counted, current, ticket.severity === 'critical', now)) {
      if (action.type === 'assign-high-risk') {
        await assignPool(ctx, { kind: 'tenant', key: tenant, pool: 'high-risk', expires: `${action.hours}h`, reason: action.reason, source: 'automation', by: 'automation:abuse-escalation' }, now);
      } else {
        await ctx.tickets.raiseToCritical(ticket, { at: now.toISOString(), actor: 'automation', message: action.reason, type: 'system' }, (trx) =>
          ctx.audit.appendIn(trx, { at: now.toISOString(), actor: 'automation:abuse-escalation', action: 'case.critical', target: ticket.id, reason: action.reason, before: { severity: ticket.severity }, after: { severity: 'critical' } }),
        );
      }
      decisions.push(action.reason);
    }
  }

  const hours = ctx.policy.abuse.windowHours;
  const against = summary.tenant ? `tenant ${summary.tenant}` : `source ${summary.sourceIp}`;
  const tally = `${counted.trusted} trusted, ${counted.untrusted} untrusted in ${hours} h`;
  const state = counted.distinct ? 'received' : 'duplicate';
  const notCounted = [trust.reporterId === null && 'the reporter is not a configured feedback-loop partner or a confirmed web reporter', trust.tenant.level !== 'verified' && 'the tenant is not vouched for by our DKIM signature', trust.weightNote].filter(Boolean).join(', and ');
  const reason = !counted.distinct
    ? `The same message was already reported (report ${counted.canonicalId}); it counts once.`
    : trust.counts
      ? `Counted against ${against} (${counted.trusted} trusted reports from distinct reporters in ${hours} h) and added to case ${ticket.id}.${decisions.length ? ` ${decisions.join('. ')}.` : ''}`
      : `Kept as evidence against ${against} in case ${ticket.id}; it does not count toward automatic action because ${notCounted}.`;
  const code = !counted.distinct ? 'report-duplicate' : trust.counts ? (decisions.length ? 'report-counted-escalated' : 'report-counted') : 'report-evidence';
  const caseEvent = !counted.distinct
    ? `duplicate of ${counted.canonicalId} (${trust.counts ? 'trusted' : 'untrusted'}; ${tally})`
    : trust.counts
      ? `trusted report added (${tally})`
      : `untrusted report kept as evidence (${tally}): reporter ${reporterLabel(trust.reporter)}; tenant ${tenantLabel(trust.tenant)}`;
  // The case's timeline, the audit row, the request's final state and its acknowledgement mail commit in one
  // transaction (a rerun of a final request only makes sure of the mail).
  const outcome = { ...reasonFields({ reason, code, params: { inWindow: counted.trusted, hours, caseId: ticket.id, canonicalId: counted.canonicalId } }), ticketId: ticket.id, trust: JSON.stringify(trust) };
  await ctx.db.transaction().execute(async (trx) => {
    await ctx.tickets.addEventIn(trx, ticket.id, { at: now.toISOString(), actor: `report ${request.id}`, message: caseEvent, type: 'system' });
    await ctx.audit.appendIn(trx, {
      at: now.toISOString(),
      actor: 'automation:report-intake',
      action: `report.${state}`,
      target: caseKey,
      reason,
      after: { requestId: request.id, caseId: ticket.id, trusted: trust.counts, reporter: reporterLabel(trust.reporter), tenant: tenantLabel(trust.tenant), trustedInWindow: counted.trusted, untrustedInWindow: counted.untrusted },
    });
    await ctx.requests.transitionIn(trx, request.id, state, reason, outcome, now);
    if (request.email) await ctx.jobs.sendMailIn(trx, 'report-ack', request.id);
  });
  ctx.logger.info({ requestId: request.id, case: ticket.id, distinct: counted.distinct, trusted: trust.counts, trustedInWindow: counted.trusted, untrustedInWindow: counted.untrusted }, 'report ingested');
  return state;
}

/** Reporters who gave an email get an acknowledgement (once: the mail job id derives from the request). */
async function finish(ctx: Context, id: string, email: string, state: string): Promise<string> {
  if (email) await ctx.jobs.sendMail('report-ack', id);
  return state;
}
