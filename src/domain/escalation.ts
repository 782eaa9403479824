import type { Policy } from '../policy.js';
import type { PoolAssignment } from './pools.js';

export type EscalationAction =
  | { type: 'assign-high-risk'; hours: number; reason: string }
  | { type: 'critical'; reason: string };

/** A case's counts in the sliding window (see src/stores/report-counter.ts). */
export interface EscalationCounts {
  /** Trusted reports from distinct reporters (partner, confirmed web reporter), each about a distinct message. */
  trusted: number;
  /** Untrusted reports: kept as evidence and named in the reason, never acted on. */
  untrusted: number;
}

/**
 * What the trusted count of a tenant's sliding window triggers: at the high-risk threshold the tenant goes to
 * the high-risk pool (unless a live high-risk assignment is already there), at the critical threshold its case
 * becomes critical (once). Untrusted reports trigger neither, however many there are: anyone can write them,
 * and a flood of them must not move a customer nor take the desk's attention with a critical case.
 */
export function escalate(policy: Policy, counts: EscalationCounts, current: PoolAssignment | null, caseIsCritical: boolean, now: Date): EscalationAction[] {
  const { highRiskThreshold, highRiskHours, criticalThreshold, windowHours } = policy.abuse;
  const actions: EscalationAction[] = [];
  const n = counts.trusted;
  const what = `${n} trusted abuse reports from distinct reporters in ${windowHours} h (${counts.untrusted} untrusted not counted)`;
  const liveHighRisk = current?.pool === 'high-risk' && (current.expiresAt === null || Date.parse(current.expiresAt) > now.getTime());
  if (n >= highRiskThreshold && !liveHighRisk) {
    actions.push({ type: 'assign-high-risk', hours: highRiskHours, reason: `${what}; threshold ${highRiskThreshold}: high-risk pool for ${highRiskHours} h` });
  }
  if (n >= criticalThreshold && !caseIsCritical) {
    actions.push({ type: 'critical', reason: `${what}; threshold ${criticalThreshold}: critical case for staff` });
  }
  return actions;
}
