/**
 * How much a report's feedback type counts toward escalation (issue 15). Only abuse-like types move a pool:
 * `not-spam`, `opt-out` and `auth-failure` reports are recorded, shown to staff and kept in the tenant's case,
 * but never count. The weights are policy (abuse.feedbackWeights); pure, no I/O.
 */
import type { ReportTrust } from './report-trust.js';

/** The defaults of abuse.feedbackWeights (src/policy.ts): 1 counts, 0 is kept as evidence only. */
export const DEFAULT_FEEDBACK_WEIGHTS: Readonly<Record<string, 0 | 1>> = Object.freeze({
  // RFC 5965 / 6650 ARF types.
  abuse: 1,
  fraud: 1,
  virus: 1,
  other: 0,
  'not-spam': 0,
  'opt-out': 0,
  'auth-failure': 0,
  // Spam complaints named otherwise: X-ARF Report-Type/Category, SpamCop, Microsoft JMRP.
  spam: 1,
  phishing: 1,
  malware: 1,
  'spam-jmrp': 1,
  'spam-spamcop': 1,
});

export interface FeedbackWeight {
  /** The type as weighed: lower case; `(none)` for a plain message (a person's complaint, weighed as `abuse`). */
  type: string;
  weight: 0 | 1;
  /** Which rule gave the weight: the type's own entry, `abuse` for a report without a type, `other` for an unlisted type. */
  rule: 'listed' | 'no-type' | 'unlisted';
}

/**
 * The weight of a feedback type: its own entry; a report without a type (a plain forwarded complaint) weighs as
 * `abuse`; a type the policy does not list weighs as `other` (0 unless the policy says otherwise), so a type
 * nobody thought of never moves a customer by accident.
 */
export function feedbackWeight(weights: Readonly<Record<string, number>>, feedbackType: string | null | undefined): FeedbackWeight {
  const type = typeof feedbackType === 'string' ? feedbackType.trim().toLowerCase().slice(0, 64) : '';
  const of = (key: string) => ((weights[key] ?? 0) > 0 ? 1 : 0);
  if (!type) return { type: '(none)', weight: of('abuse'), rule: 'no-type' };
  if (Object.hasOwn(weights, type)) return { type, weight: of(type), rule: 'listed' };
  return { type, weight: of('other'), rule: 'unlisted' };
}

/**
 * The trust decision once the feedback type is weighed: a zero-weight report does not count (it is kept in its
 * case as evidence, in the untrusted window, and moves nothing); `weightNote` says why for the report's timeline.
 * A report that counts is returned as it was.
 */
export function weighTrust<T extends Pick<ReportTrust, 'counts'>>(weights: Readonly<Record<string, number>>, feedbackType: string | null | undefined, trust: T): T & { weightNote?: string } {
  const w = feedbackWeight(weights, feedbackType);
  if (w.weight > 0 || !trust.counts) return trust;
  const why = w.rule === 'unlisted' ? `its feedback type "${w.type}" is not listed in abuse.feedbackWeights and weighs as "other" (0)` : `its feedback type "${w.type}" weighs 0 in abuse.feedbackWeights`;
  return { ...trust, counts: false, weightNote: why };
}
