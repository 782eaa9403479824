import type { Context } from '../../context.js';
import { parseTrust, reporterLabel, tenantLabel, type ReportTrust } from '../../domain/report-trust.js';
import type { WindowCounts } from '../../stores/report-counter.js';
import type { PortalRequest } from '../../stores/requests.js';
import type { Ticket } from '../../stores/tickets.js';
import type { ReportSummary } from '../report/service.js';

/** Reports shown in full on a case page; the trust tally reads the trust field of up to MAX_TALLIED. */
const MAX_SHOWN = 50;
const MAX_TALLIED = 10_000;

export interface EvidenceReport {
  request: PortalRequest;
  s: ReportSummary;
  raw: string;
  trust: ReportTrust | null;
  /** Staff wording: who reported and why we believe them (or not), and the tenant's standing. */
  reporterTrust: string;
  tenantTrust: string;
}

export interface CaseTally {
  /** Attached reports by trust: counted toward escalation, kept as evidence only, from before trust was decided. */
  trusted: number;
  untrusted: number;
  unassessed: number;
  /** Of how many attached reports (the tally stops at MAX_TALLIED). */
  tallied: number;
  /** The sliding window that drives escalation, now. */
  window: WindowCounts | null;
}

/** The evidence part of a ticket page: each report with its trust labels, and the case's trusted/untrusted tally. */
export async function caseEvidence(ctx: Context, ticket: Ticket, reportIds: string[]): Promise<{ reports: EvidenceReport[]; tally: CaseTally | null }> {
  const reports = await Promise.all(
    reportIds.slice(0, MAX_SHOWN).map(async (id): Promise<EvidenceReport | null> => {
      const rq = await ctx.requests.get(id);
      if (!rq) return null;
      const raw = await ctx.requests.sample(id);
      const trust = parseTrust(rq.trust);
      return {
        request: rq,
        s: JSON.parse(rq.parsed ?? '{}') as ReportSummary,
        raw: raw ? raw.subarray(0, 64 * 1024).toString('utf8') : '',
        trust,
        reporterTrust: trust ? reporterLabel(trust.reporter) : 'Not assessed (reported before reporter trust was decided)',
        tenantTrust: trust ? tenantLabel(trust.tenant) : 'Not assessed',
      };
    }),
  );
  if (ticket.kind !== 'abuse-case') return { reports: reports.filter((r) => r !== null), tally: null };
  const ids = reportIds.slice(0, MAX_TALLIED);
  const tally: CaseTally = { trusted: 0, untrusted: 0, unassessed: 0, tallied: ids.length, window: ticket.caseKey ? await ctx.reportCounter.peek(ticket.caseKey) : null };
  for (const field of await ctx.requests.fieldOfMany(ids, 'trust')) {
    const t = parseTrust(field ?? undefined);
    if (!t) tally.unassessed++;
    else if (t.counts) tally.trusted++;
    else tally.untrusted++;
  }
  return { reports: reports.filter((r) => r !== null), tally };
}
