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
  /** The raw source (its first 64 KB) of the report shown expanded; '' for the others (not read at all). */
  raw: string;
  /** The one report of the case shown in full (the one asked for, else the first). */
  expanded: boolean;
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

/** Reports alike for a reader: same source IP, subject, kind of reporter and feedback type. */
export interface EvidenceGroup {
  sourceIp: string;
  subject: string;
  reporter: string;
  feedbackType: string;
  count: number;
  /** The first report of the group (the one a reader opens to see an example). */
  first: string;
}

/** Groups the shown reports by source IP, subject, reporter kind and feedback type, largest group first. */
export function groupReports(reports: EvidenceReport[]): EvidenceGroup[] {
  const groups = new Map<string, EvidenceGroup>();
  for (const r of reports) {
    const g = {
      sourceIp: r.s.sourceIp ?? '',
      subject: (r.s.subject ?? '').slice(0, 120),
      reporter: r.trust?.reporter.level ?? 'not assessed',
      feedbackType: r.s.feedbackType ?? (r.request.channel === 'web' ? 'web report' : 'none given'),
    };
    const key = JSON.stringify(g);
    const seen = groups.get(key);
    if (seen) seen.count++;
    else groups.set(key, { ...g, count: 1, first: r.request.id });
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}

/**
 * The evidence part of a ticket page: each report with its trust labels (one of them, `expand` or the first, in full
 * with its raw source; the others as a line each), the reports grouped, and the case's trusted/untrusted tally.
 */
export async function caseEvidence(ctx: Context, ticket: Ticket, reportIds: string[], expand?: string): Promise<{ reports: EvidenceReport[]; groups: EvidenceGroup[]; tally: CaseTally | null }> {
  const shown = reportIds.slice(0, MAX_SHOWN);
  const open = expand && shown.includes(expand) ? expand : shown[0];
  const reports = await Promise.all(
    shown.map(async (id): Promise<EvidenceReport | null> => {
      const rq = await ctx.requests.get(id);
      if (!rq) return null;
      const raw = id === open ? await ctx.requests.sample(id) : null;
      const trust = parseTrust(rq.trust);
      return {
        request: rq,
        s: JSON.parse(rq.parsed ?? '{}') as ReportSummary,
        raw: raw ? raw.subarray(0, 64 * 1024).toString('utf8') : '',
        expanded: id === open,
        trust,
        reporterTrust: trust ? reporterLabel(trust.reporter) : 'Not assessed (reported before reporter trust was decided)',
        tenantTrust: trust ? tenantLabel(trust.tenant) : 'Not assessed',
      };
    }),
  );
  const found = reports.filter((r) => r !== null);
  const groups = groupReports(found);
  if (ticket.kind !== 'abuse-case') return { reports: found, groups, tally: null };
  const ids = reportIds.slice(0, MAX_TALLIED);
  const tally: CaseTally = { trusted: 0, untrusted: 0, unassessed: 0, tallied: ids.length, window: ticket.caseKey ? await ctx.reportCounter.peek(ticket.caseKey) : null };
  for (const field of await ctx.requests.fieldOfMany(ids, 'trust')) {
    const t = parseTrust(field ?? undefined);
    if (!t) tally.unassessed++;
    else if (t.counts) tally.trusted++;
    else tally.untrusted++;
  }
  return { reports: found, groups, tally };
}
