import PostalMime from 'postal-mime';
import type { Policy } from '../../policy.js';
import { checkDkim, dnsKeyResolver, policyKeyResolver, type DkimCheck, type DkimResolver } from '../../domain/dkim.js';
import { decideTrust, reportDkimNote, reporterByDkim, reporterIdOf, tenantTrust, webReporter, type ReporterTrust, type ReportTrust, type TenantTrust } from '../../domain/report-trust.js';
import { sampleHashOf } from '../../domain/samples.js';
import type { PortalRequest } from '../../stores/requests.js';
import type { ReportSummary } from './service.js';

export interface TrustDeps {
  /** DNS for partners' DKIM keys (default: node's resolver, only asked about partners' domains). */
  dns?: DkimResolver;
}

/** The reporter decided at intake (request field `trust`), or for a web report, from its confirmation. */
function intakeReporter(request: PortalRequest): ReporterTrust {
  if (request.channel === 'web') return webReporter(request.email, request.state === 'queued');
  try {
    const stored = request.trust ? (JSON.parse(request.trust) as { reporter?: ReporterTrust }) : null;
    if (stored?.reporter?.level) return stored.reporter;
  } catch {
    // a damaged field trusts nobody
  }
  return { level: 'untrusted', detail: 'no transport decision was recorded at intake' };
}

/**
 * The original message inside a stored report, found by the hash the parser gave it (so it is the very message
 * the summary describes): the report itself for a plain message, else one of its message/rfc822 parts.
 */
export async function originalMessageOf(raw: Buffer, summary: Pick<ReportSummary, 'kind' | 'sampleHash'>, maxDepth: number): Promise<Buffer | null> {
  const candidates: Buffer[] = [];
  if (summary.kind === 'message') {
    let start = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
    while (start < raw.length && (raw[start] === 10 || raw[start] === 13 || raw[start] === 32 || raw[start] === 9)) start++;
    candidates.push(raw.subarray(start));
    if (raw.subarray(start, start + 5).toString('latin1') === 'From ') candidates.push(raw.subarray(raw.indexOf(10, start) + 1));
  } else {
    try {
      const parsed = await PostalMime.parse(raw, { forceRfc822Attachments: true, attachmentEncoding: 'arraybuffer', maxNestingDepth: maxDepth });
      for (const a of parsed.attachments) {
        if (a.mimeType === 'message/rfc822' || a.mimeType === 'message/global') candidates.push(Buffer.from(a.content as ArrayBuffer));
      }
    } catch {
      return null;
    }
  }
  return candidates.find((c) => c.length > 0 && sampleHashOf(c) === summary.sampleHash) ?? null;
}

/**
 * Decides whom to believe about one report (see src/domain/report-trust.ts): the reporter from the transport
 * (or the report's own partner DKIM signature), the tenant from our outbound DKIM signature on the original.
 * Runs in the worker: the DKIM checks hash the whole message and may ask DNS. What an untrusted sender can make
 * it do is bounded: the report's DKIM is verified only when a signature claims a partner's domain, and the
 * original is looked for and checked only for a trusted reporter (an untrusted report cannot count anyway).
 */
export async function assessReport(policy: Policy, request: PortalRequest, summary: ReportSummary, raw: Buffer | null, deps: TrustDeps = {}): Promise<ReportTrust> {
  let reporter = intakeReporter(request);
  if (reporter.level === 'untrusted' && request.channel !== 'web' && raw) {
    const domains = policy.partners.flatMap((p) => p.dkimDomains.map((d) => d.toLowerCase().replace(/\.$/, '')));
    if (domains.length) {
      const check = await checkDkim(raw, dnsKeyResolver(domains, deps.dns), (d) => domains.includes(d));
      const byDkim = reporterByDkim(policy.partners, check);
      const note = byDkim ? '' : reportDkimNote(policy.partners, check);
      reporter = byDkim ?? (note ? { level: 'untrusted', detail: `${reporter.detail}; ${note}` } : reporter);
    }
  }
  if (summary.tenant && reporterIdOf(reporter) === null) {
    return decideTrust(reporter, { level: 'claimed', tenant: summary.tenant, detail: 'not checked, as the reporter is not trusted (the report cannot count either way)' });
  }
  return decideTrust(reporter, await tenantOfReport(policy, summary, raw));
}

/** Whether our outbound DKIM vouches for the tenant the report's original names (src/domain/report-trust.ts). */
export async function tenantOfReport(policy: Policy, summary: Pick<ReportSummary, 'kind' | 'sampleHash' | 'tenant'>, raw: Buffer | null): Promise<TenantTrust> {
  const keys = policy.network.dkimKeys;
  let check: DkimCheck | null = null;
  if (summary.tenant && keys.length && raw) {
    const original = await originalMessageOf(raw, summary, policy.samples.maxMimeDepth);
    const ours = (d: string, s: string) => keys.some((k) => k.domain.toLowerCase().replace(/\.$/, '') === d && k.selector.toLowerCase() === s);
    if (original) check = await checkDkim(original, policyKeyResolver(keys), ours);
  }
  return tenantTrust(policy.network, summary.tenant, check);
}
