import type { Policy } from '../../policy.js';
import { dnsKeyResolver, policyKeyResolver, type DkimCheck, type DkimResolver } from '../../domain/dkim.js';
import { decideTrust, reportDkimNote, reporterByDkim, reporterIdOf, tenantVerdict, webReporter, type ReporterTrust, type ReportTrust, type TenantTrust } from '../../domain/report-trust.js';
import { ParseBudgetError, parsePool, type DkimTask, type ParsePool } from '../../parse/pool.js';
import type { PortalRequest } from '../../stores/requests.js';
import type { ReportSummary } from './service.js';

export interface TrustDeps {
  /** DNS for partners' DKIM keys (default: node's resolver, only asked about partners' domains). */
  dns?: DkimResolver;
  /** The pool the DKIM checks run on (default: this process's parser pool). */
  pool?: ParsePool;
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

const bare = (d: string) => d.toLowerCase().replace(/\.$/, '');

/**
 * One DKIM check on a thread of the parser pool, never on this event loop, within the policy's parse budget
 * (samples.parseBudgetMs; the time spent waiting for a key does not count). Over the budget, or over a parser
 * thread's heap, it is "not checked": the report is not trusted on it, and nothing stalls or crashes. Null when
 * the task looks for the original message inside the report and there is none that matches the summary.
 */
async function dkimOnPool(policy: Policy, task: DkimTask, resolver: DkimResolver, deps: TrustDeps): Promise<DkimCheck | null> {
  try {
    return await (deps.pool ?? parsePool()).verifyDkim(task, resolver, policy.samples.parseBudgetMs);
  } catch (err) {
    if (err instanceof ParseBudgetError) return { checked: false, reason: `verifying took more than the budget of ${policy.samples.parseBudgetMs} ms, or more memory than a parser thread has` };
    throw err; // busy pool, closing: the job is retried
  }
}

/**
 * Decides whom to believe about one report (see src/domain/report-trust.ts): the reporter from the transport
 * (or the report's own partner DKIM signature), the tenant from our outbound DKIM signature on the original.
 * Runs in the worker, the DKIM checks on the parser pool (dkimOnPool). What an untrusted sender can make it do is
 * bounded: the report's DKIM is verified only when a signature claims a partner's domain and the report's body is
 * within samples.maxPartnerDkimBodyBytes, and the original is looked for (by the bounded MIME scan of the
 * sample parser) and checked only for a trusted reporter (an untrusted report cannot count anyway).
 */
export async function assessReport(policy: Policy, request: PortalRequest, summary: ReportSummary, raw: Buffer | null, deps: TrustDeps = {}): Promise<ReportTrust> {
  let reporter = intakeReporter(request);
  const providers = policy.abuse.publicMailProviders;
  if (reporter.level === 'untrusted' && request.channel !== 'web' && raw) {
    const domains = policy.partners.flatMap((p) => p.dkimDomains.map(bare));
    if (domains.length) {
      const task: DkimTask = { raw, target: { kind: 'message' }, wanted: domains.map((domain) => ({ domain, selector: null })), maxBodyBytes: policy.samples.maxPartnerDkimBodyBytes };
      const check = (await dkimOnPool(policy, task, dnsKeyResolver(domains, deps.dns), deps)) ?? { checked: false, reason: 'no message' };
      const byDkim = reporterByDkim(policy.partners, check);
      const note = byDkim ? '' : reportDkimNote(policy.partners, check);
      reporter = byDkim ?? (note ? { level: 'untrusted', detail: `${reporter.detail}; ${note}` } : reporter);
    }
  }
  if (summary.tenant && reporterIdOf(reporter, providers) === null) {
    return decideTrust(reporter, { level: 'claimed', tenant: summary.tenant, detail: 'not checked, as the reporter is not trusted (the report cannot count either way)' }, { messageIdentity: summary.messageId, publicProviders: providers });
  }
  const verdict = await tenantCheck(policy, summary, raw, deps);
  return decideTrust(reporter, verdict.tenant, { messageIdentity: verdict.identity ?? summary.messageId, publicProviders: providers });
}

/** Whether our outbound DKIM vouches for the tenant the report's original names (src/domain/report-trust.ts). */
export async function tenantOfReport(policy: Policy, summary: Pick<ReportSummary, 'sampleHash' | 'tenant'>, raw: Buffer | null, deps: TrustDeps = {}): Promise<TenantTrust> {
  return (await tenantCheck(policy, summary, raw, deps)).tenant;
}

/**
 * The tenant decision and the signature that vouched: the original message is found in the stored report by the
 * sample parser's bounded scan (the same one that made the summary, matched by its sampleHash), and our keys
 * are verified over it, both on the parser pool.
 */
async function tenantCheck(policy: Policy, summary: Pick<ReportSummary, 'sampleHash' | 'tenant'>, raw: Buffer | null, deps: TrustDeps): Promise<ReturnType<typeof tenantVerdict>> {
  const keys = policy.network.dkimKeys;
  let check: DkimCheck | null = null;
  if (summary.tenant && keys.length && raw) {
    const task: DkimTask = {
      raw,
      target: { kind: 'original', network: policy.network, limits: policy.samples, sampleHash: summary.sampleHash },
      wanted: keys.map((k) => ({ domain: bare(k.domain), selector: k.selector.toLowerCase() })),
    };
    check = await dkimOnPool(policy, task, policyKeyResolver(keys), deps);
  }
  return tenantVerdict(policy.network, summary.tenant, check);
}
