import type { Context } from '../../src/context.js';
import { escalate } from '../../src/domain/escalation.js';
import type { ReportSummary } from '../../src/features/report/service.js';
import { assignPool, getAssignment } from '../../src/features/pools/service.js';
import type { IngestReportJob } from '../../src/jobs/contract.js';
import { FINAL_STATES } from '../../src/stores/requests.js';
import { PermanentJobError, reasonFields } from './delist.js';

/**
 * One confirmed abuse report: count it once against its tenant (same Message-ID or same sample counts once),
 * attach it to the tenant's case, and escalate per policy. Every step is idempotent, so a retried job changes
 * nothing twice; automated decisions go to the audit log with their reason.
 */
export async function processIngestReport(ctx: Context, job: IngestReportJob, now = new Date()): Promise<string> {
  const request = await ctx.requests.get(job.requestId);
  if (!request || request.type !== 'report') throw new PermanentJobError(`report ${job.requestId} does not exist`);
  if (FINAL_STATES.includes(request.state)) return finish(ctx, request.id, request.email, request.state);

  const summary = JSON.parse(request.parsed ?? '{}') as ReportSummary;
  const caseKey = summary.tenant ?? `ip-${summary.sourceIp}`;
  const counted = await ctx.reportCounter.count(caseKey, request.id, summary.messageId, summary.sampleHash, now);
  const ticket = await ctx.tickets.caseFor(caseKey, request.id, { ...(summary.tenant ? { tenant: summary.tenant } : { ip: summary.sourceIp }), category: request.category ?? 'spam' }, now);
  await ctx.tickets.attachReport(ticket.id, counted.canonicalId, now);

  const decisions: string[] = [];
  if (summary.tenant && counted.distinct) {
    const current = await getAssignment(ctx, 'tenant', summary.tenant);
    for (const action of escalate(ctx.policy, counted.inWindow, current, ticket.severity === 'critical', now)) {
      if (action.type === 'assign-high-risk') {
        await assignPool(ctx, { kind: 'tenant', key: summary.tenant, pool: 'high-risk', expires: `${action.hours}h`, reason: action.reason, source: 'automation', by: 'automation:abuse-escalation' }, now);
      } else {
        await ctx.tickets.raiseToCritical(ticket, { at: now.toISOString(), actor: 'automation', message: action.reason, type: 'system' }, (tx) =>
          ctx.audit.appendIn(tx, { at: now.toISOString(), actor: 'automation:abuse-escalation', action: 'case.critical', target: ticket.id, reason: action.reason, before: { severity: ticket.severity }, after: { severity: 'critical' } }),
        );
      }
      decisions.push(action.reason);
    }
  }

  const state = counted.distinct ? 'received' : 'duplicate';
  const reason = counted.distinct
    ? `Counted against ${summary.tenant ? `tenant ${summary.tenant}` : `source ${summary.sourceIp}`} (${counted.inWindow} distinct in ${ctx.policy.abuse.windowHours} h) and added to case ${ticket.id}.${decisions.length ? ` ${decisions.join('. ')}.` : ''}`
    : `The same message was already reported (report ${counted.canonicalId}); it counts once.`;
  const tx = ctx.redis.multi();
  const code = counted.distinct ? (decisions.length ? 'report-counted-escalated' : 'report-counted') : 'report-duplicate';
  ctx.requests.transitionIn(tx, request.id, state, reason, { ...reasonFields({ reason, code, params: { inWindow: counted.inWindow, hours: ctx.policy.abuse.windowHours, caseId: ticket.id, canonicalId: counted.canonicalId } }), ticketId: ticket.id }, now);
  ctx.tickets.addEventIn(tx, ticket.id, { at: now.toISOString(), actor: `report ${request.id}`, message: counted.distinct ? `report added (${counted.inWindow} in window)` : `duplicate of ${counted.canonicalId}`, type: 'system' });
  ctx.audit.appendIn(tx, { at: now.toISOString(), actor: 'automation:report-intake', action: `report.${state}`, target: caseKey, reason, after: { requestId: request.id, caseId: ticket.id, inWindow: counted.inWindow } });
  await tx.exec();
  ctx.logger.info({ requestId: request.id, case: ticket.id, distinct: counted.distinct, inWindow: counted.inWindow }, 'report ingested');
  return finish(ctx, request.id, request.email, state);
}

/** Reporters who gave an email get an acknowledgement (once: the mail job id derives from the request). */
async function finish(ctx: Context, id: string, email: string, state: string): Promise<string> {
  if (email) await ctx.jobs.sendMail('report-ack', id);
  return state;
}
