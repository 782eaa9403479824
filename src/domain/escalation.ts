import type { Policy } from '../policy.js';
import type { PoolAssignment } from './pools.js';

export type EscalationAction =
  | { type: 'assign-high-risk'; hours: number; reason: string }
  | { type: 'critical'; reason: string };

/**
 * What the distinct-report count of a tenant's sliding window triggers: at the high-risk threshold the tenant
 * goes to the high-risk pool (unless a live high-risk assignment is already there), at the critical threshold
 * its case becomes critical (once).
 */
export function escalate(policy: Policy, distinctInWindow: number, current: PoolAssignment | null, caseIsCritical: boolean, now: Date): EscalationAction[] {
  const { highRiskThreshold, highRiskHours, criticalThreshold, windowHours } = policy.abuse;
  const actions: EscalationAction[] = [];
  const liveHighRisk = current?.pool === 'high-risk' && (current.expiresAt === null || Date.parse(current.expiresAt) > now.getTime());
  if (distinctInWindow >= highRiskThreshold && !liveHighRisk) {
    actions.push({
      type: 'assign-high-risk',
      hours: highRiskHours,
      reason: `${distinctInWindow} distinct abuse reports in ${windowHours} h (threshold ${highRiskThreshold}): high-risk pool for ${highRiskHours} h`,
    });
  }
  if (distinctInWindow >= criticalThreshold && !caseIsCritical) {
    actions.push({ type: 'critical', reason: `${distinctInWindow} distinct abuse reports in ${windowHours} h (threshold ${criticalThreshold}): critical case for staff` });
  }
  return actions;
}
