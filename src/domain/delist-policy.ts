import type { Policy } from '../policy.js';
import type { Verdict } from './listing.js';

/** The four outcomes of a self-delist request, each with the reason we tell the requester. */
export type DelistDecision = {
  outcome: 'not_listed' | 'delisted' | 'needs_review' | 'refused';
  /** The reason in English (logs, staff, fallback) … */
  reason: string;
  /** … and as a message key with its parameters, so pages and mails say it in the requester's language. */
  code: string;
  params?: Record<string, string | number>;
};

/** Self-delists left for an IP, given how many it used inside the window. */
export function selfDelistsLeft(policy: Policy, usedInWindow: number): number {
  return Math.max(0, policy.selfDelist.maxPerWindow - usedInWindow);
}

/** Listing duration in days after `selfDelists` self-removals: 1, 1, 2, 4, 8 … times the base. */
export function relistDurationDays(policy: Policy, selfDelists: number): number {
  return policy.relist.baseDays * 2 ** Math.max(0, selfDelists - 1);
}

/** The delist policy as one pure function: listing state and budget in, decision and reason out. */
export function decideDelist(policy: Policy, verdict: Verdict, usedInWindow: number, ownAddress: boolean): DelistDecision {
  if (ownAddress) {
    return { outcome: 'refused', code: 'own-network', reason: 'This address belongs to our own outbound network; it cannot be delisted through this portal. Write to our staff through the contact form.' };
  }
  if (!verdict.listed || !verdict.listing) {
    return { outcome: 'not_listed', code: 'not-listed', reason: 'This IP address is not on our blocked-senders list, so there is nothing to remove.' };
  }
  // Every listing in effect must be self-removable: a spam-source /32 inside a botnet /24 is still a botnet listing.
  for (const entry of verdict.covering ?? [verdict.listing]) {
    const category = policy.categories[entry.category];
    if (!category) {
      return { outcome: 'needs_review', code: 'unknown-category', params: { category: entry.category }, reason: `The listing has a category we do not know (${entry.category}); our support staff will review it.` };
    }
    if (!category.selfRemovable) {
      return {
        outcome: 'needs_review',
        code: 'staff-only-category',
        params: { category: entry.category },
        reason: `Listings of the category "${entry.category}" cannot be removed by self-service; our support staff will review your request.`,
      };
    }
  }
  if (selfDelistsLeft(policy, usedInWindow) === 0) {
    return {
      outcome: 'needs_review',
      code: 'budget-used',
      params: { max: policy.selfDelist.maxPerWindow, days: policy.selfDelist.windowDays },
      reason: `This IP address has used all ${policy.selfDelist.maxPerWindow} self-delists allowed in ${policy.selfDelist.windowDays} days; our support staff will review your request.`,
    };
  }
  return SELF_DELISTED;
}

/** The decision of a self-delist that went through. */
export const SELF_DELISTED = { outcome: 'delisted', code: 'delisted', reason: 'The IP address was removed from our blocked-senders list. Mail from it is accepted again within minutes.' } as const;
