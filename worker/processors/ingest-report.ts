import type { Kysely } from 'kysely';
import type { Context } from '../../src/context.js';
import type { Database } from '../../src/db/schema.js';
import { escalate, type EscalationAction } from '../../src/domain/escalation.js';
import { weighTrust } from '../../src/domain/feedback-weight.js';
import type { ReportSummary } from '../../src/features/report/service.js';
import type { CustomerDecision, CustomerSignals } from '../../src/domain/customer.js';
import { assignPool } from '../../src/features/pools/service.js';
import type { IngestReportJob } from '../../src/jobs/contract.js';
import { caseLockName, type CountResult } from '../../src/stores/report-counter.js';
import { FINAL_STATES, type PortalRequest } from '../../src/stores/requests.js';
import type { Ticket } from '../../src/stores/tickets.js';
import { reporterLabel, type ReportTrust } from '../../src/domain/report-trust.js';
import { assessReport, type TrustDeps } from '../../src/features/report/trust.js';
import { PermanentJobError, reasonFields } from './delist.js';

/**
 * One abuse report: decide whom to believe (reporter, tenant: see src/domain/report-trust.ts), count it once
 * against its case in its trust class (same Message-ID or same sample counts once), attach it to the case as
 * evidence, and escalate per policy on the trusted count only. Every step is idempotent, so a retried job changes
 * nothing twice; automated decisions (escalations) go to the audit log with their reason.
 *
 * Its writes are one transaction of four statements on the common path (the case's lock with its open case; the
 * report's row with its attachment to the case and the window's count; the request's final state; and its
 * acknowledgement mail when the reporter gave an address), the first report of a case opening it there, unless the count
 * calls for escalation: then the row and the attachment commit first, each action commits with its own audit row,
 * and the outcome follows. A rerun after a crash in between finds the row, counts nothing twice, and escalates only
 * what is not done yet.
 */
export async function processIngestReport(ctx: Context, job: IngestReportJob, now = new Date(), deps: TrustDeps = {}): Promise<string> {
  const found = await ctx.requests.getWithSample(job.requestId);
  const request = found?.request;
  if (!request || request.type !== 'report') throw new PermanentJobError(`report ${job.requestId} does not exist`);
  if (FINAL_STATES.includes(request.state)) return finish(ctx, request.id, request.email, request.state);

  const summary = JSON.parse(request.parsed ?? '{}') as ReportSummary;
  const trust = weighTrust(ctx.policy.abuse.feedbackWeights, summary.feedbackType, await assessReport(ctx.policy, request, summary, found.sample, deps));
  // Our customer, from the tenant directory (src/domain/customer.ts): our DKIM-verified tenant header first, then
  // Feedback-ID, VERP, DKIM and sender domains, then an unverified header claim. Only the verified header can move a
  // pool (trust.counts); any other answer puts the report in that tenant's case; no answer, in the source IP's.
  const tenantHeader = summary.tenant ? { tenant: summary.tenant, verified: trust.tenant.level === 'verified' && trust.tenant.tenant === summary.tenant } : null;
  const customer = await ctx.tenants.resolveCustomer({ tenantHeader, customer: summary.customer ?? NO_SIGNALS, mailFrom: summary.mailFrom ?? null });
  const tenant = customer.match?.tenant ?? null;
  const caseKey = tenant ?? `ip-${summary.sourceIp}`;
  const report: Report = { request, summary, trust, caseKey, tenant, customer, now };

  const { ticket, counted, actions } = await ctx.db.transaction().execute(async (trx) => {
    // The case's lock (its reports are recorded one at a time) and its open case, in one statement; the first report
    // of a case opens it here.
    const ticket = (await ctx.tickets.lockedCaseIn(trx, caseKey, caseLockName(caseKey))) ?? (await ctx.tickets.openCaseIn(trx, caseKey, request.id, { ...(tenant ? { tenant } : { ip: summary.sourceIp }), category: request.category ?? 'spam' }, now));
    // The report's row is written and attached to the case here, once (a rerun finds it and counts nothing twice).
    const counted = await ctx.reportCounter.countIn(
      trx,
      caseKey,
      { reportId: request.id, caseTicketId: ticket.id, messageId: trust.messageIdentity ?? summary.messageId, sampleHash: summary.sampleHash, reporterId: trust.counts ? trust.reporterId : null, trustReason: reporterLabel(trust.reporter), tenant, tenantProof: customer.match ? `${customer.match.signal}: ${customer.match.detail}` : null },
      now,
      { locked: true },
    );
    const actions = trust.counts && trust.tenant.level === 'verified' ? escalate(ctx.policy, counted, await ctx.assignments.get('tenant', trust.tenant.tenant, trx), ticket.severity === 'critical', now) : [];
    if (!actions.length) await recordOutcomeIn(ctx, trx, report, counted, ticket, []);
    return { ticket, counted, actions };
  });
  if (actions.length && trust.tenant.level === 'verified') {
    const decisions = await runEscalation(ctx, trust.tenant.tenant, ticket, actions, now);
    await ctx.db.transaction().execute((trx) => recordOutcomeIn(ctx, trx, report, counted, ticket, decisions));
  }
  ctx.logger.info({ requestId: request.id, case: ticket.id, distinct: counted.distinct, trusted: trust.counts, trustedInWindow: counted.trusted, untrustedInWindow: counted.untrusted }, 'report ingested');
  return counted.distinct ? 'received' : 'duplicate';
}

const NO_SIGNALS: CustomerSignals['customer'] = { feedbackIds: [], dkim: [], mailFromDomain: null, fromDomain: null };

/** What the processor knows about the report once its trust is decided. */
interface Report {
  request: PortalRequest;
  summary: ReportSummary;
  trust: ReportTrust & { weightNote?: string };
  caseKey: string;
  /** The customer the directory found (null: none, or a conflict; see customer.reason). */
  tenant: string | null;
  customer: CustomerDecision;
  now: Date;
}

/** Carries out the escalation of a verified tenant's case; returns the reasons, in order. */
async function runEscalation(ctx: Context, tenant: string, ticket: Ticket, actions: EscalationAction[], now: Date): Promise<string[]> {
  const decisions: string[] = [];
  for (const action of actions) {
    if (action.type === 'assign-high-risk') {
      await assignPool(ctx, { kind: 'tenant', key: tenant, pool: 'high-risk', expires: `${action.hours}h`, reason: action.reason, source: 'automation', by: 'automation:abuse-escalation' }, now);
    } else {
      await ctx.tickets.raiseToCritical(ticket, { at: now.toISOString(), actor: 'automation', message: action.reason, type: 'system' }, (trx) =>
        ctx.audit.appendIn(trx, { at: now.toISOString(), actor: 'automation:abuse-escalation', action: 'case.critical', target: ticket.id, reason: action.reason, before: { severity: ticket.severity }, after: { severity: 'critical' } }),
      );
    }
    decisions.push(action.reason);
  }
  return decisions;
}

/**
 * The request's final state and its acknowledgement mail, in `trx` (a rerun of a final request only makes sure of
 * the mail). A report writes no case timeline entry and no audit row of its own: the case's evidence lists every
 * report with its trust and reasons (the reports table), the request's events keep its outcome, and the case
 * timeline and the audit log record what was decided (escalations, staff actions). At hundreds of thousands of
 * reports a day, a row per report in each would triple the writes for what the reports table already holds.
 */
async function recordOutcomeIn(ctx: Context, trx: Kysely<Database>, { request, summary, trust, tenant, customer, now }: Report, counted: CountResult, ticket: Ticket, decisions: string[]): Promise<void> {
  const hours = ctx.policy.abuse.windowHours;
  const against = tenant ? `tenant ${tenant}` : `source ${summary.sourceIp}`;
  const state = counted.distinct ? 'received' : 'duplicate';
  const notCounted = [trust.reporterId === null && 'the reporter is not a configured feedback-loop partner or a confirmed web reporter', trust.tenant.level !== 'verified' && 'the tenant is not vouched for by our DKIM signature', trust.weightNote].filter(Boolean).join(', and ');
  const reason = !counted.distinct
    ? `The same message was already reported (report ${counted.canonicalId}); it counts once.`
    : trust.counts
      ? `Counted against ${against} (${counted.trusted} trusted reports from distinct reporters in ${hours} h) and added to case ${ticket.id}.${decisions.length ? ` ${decisions.join('. ')}.` : ''}`
      : `Kept as evidence against ${against} in case ${ticket.id}; it does not count toward automatic action because ${notCounted}.`;
  const code = !counted.distinct ? 'report-duplicate' : trust.counts ? (decisions.length ? 'report-counted-escalated' : 'report-counted') : 'report-evidence';
  const outcome = { ...reasonFields({ reason, code, params: { inWindow: counted.trusted, hours, caseId: ticket.id, canonicalId: counted.canonicalId, foundBy: customer.match?.signal ?? 'none' } }), ticketId: ticket.id, trust: JSON.stringify({ ...trust, customer: { match: customer.match, reason: customer.reason } }) };
  await ctx.requests.transitionIn(trx, request.id, state, reason, outcome, now);
  if (request.email) await ctx.jobs.sendMailIn(trx, 'report-ack', request.id);
}

/** Reporters who gave an email get an acknowledgement (once: the mail job id derives from the request). */
async function finish(ctx: Context, id: string, email: string, state: string): Promise<string> {
  if (email) await ctx.jobs.sendMail('report-ack', id);
  return state;
}
