import type { Policy } from '../policy.js';
import type { Role } from '../stores/staff.js';
import { roleAtLeast } from '../stores/staff.js';
import { addressOf, contains, parseNetwork, specialPurpose, type Network } from './ip.js';

/** Two networks overlap when one contains the other's base. */
export function overlaps(a: Network, b: Network): boolean {
  if (a.version !== b.version) return false;
  const wider = a.prefix <= b.prefix ? a : b;
  const narrower = wider === a ? b : a;
  return contains(wider, { version: narrower.version, value: narrower.base, text: narrower.text });
}

const adminWidth = (policy: Policy, net: Network) => (net.version === 4 ? policy.blockWidth.ipv4MinPrefixWithoutAdmin : policy.blockWidth.ipv6MinPrefixWithoutAdmin);

/** Block entries wider than /16 (IPv4) or /32 (IPv6) need the admin role. Returns the refusal, or null. */
export function blockWidthRefusal(policy: Policy, net: Network, role: Role): string | null {
  const min = adminWidth(policy, net);
  if (net.prefix < min && !roleAtLeast(role, 'admin')) return `Listing ${net.text} (wider than /${min}) needs the admin role.`;
  return null;
}

/**
 * What only an admin may list, only an admin may lift: removing such a listing, or punching an exclusion into it
 * (staff delisting an address inside it included). `lifted` are the listings the change takes effect from.
 */
export function liftRefusal(policy: Policy, lifted: Array<{ cidr: string }>, role: Role): string | null {
  if (roleAtLeast(role, 'admin')) return null;
  for (const { cidr } of lifted) {
    const net = parseNetwork(cidr);
    const min = adminWidth(policy, net);
    if (net.prefix < min) return `${net.text} is wider than /${min}: removing it or excluding addresses from it needs the admin role.`;
  }
  return null;
}

/**
 * The allow-list guardrails of seeds/safe-sender-lists: as narrow as possible (IPv4 /24 or narrower unless admin),
 * never a consumer or shared-infrastructure range (refused for everyone), capped, and each with a review date.
 */
export function allowRefusal(policy: Policy, net: Network, role: Role, entries: number, reviewBy: Date, now: Date): string | null {
  const g = policy.allowlist;
  const max = net.version === 4 ? g.ipv4MaxWidthWithoutAdmin : g.ipv6MaxWidthWithoutAdmin;
  const refused = g.refusedRanges.map((r) => parseNetwork(r)).find((r) => overlaps(r, net));
  if (refused) return `${net.text} overlaps ${refused.text}, a consumer or shared-infrastructure range: such ranges are never allowed.`;
  if (net.prefix < max && !roleAtLeast(role, 'admin')) return `Allowing ${net.text} (wider than /${max}) needs the admin role: keep allow entries as narrow as possible.`;
  if (entries >= g.maxEntries) return `The allow list is full (${g.maxEntries} entries). Remove entries you no longer need first.`;
  if (reviewBy.getTime() <= now.getTime()) return 'The review date must be in the future.';
  if (reviewBy.getTime() > now.getTime() + 366 * 86_400_000) return 'Review allow entries at least once a year: pick a review date within a year.';
  return null;
}

/** Why a listing target needs a second thought: refused outright, or allowed only with an explicit override. */
export interface ListingRefusal {
  reason: string;
  /** True when an explicit override (`--override`, the console's checkbox) lets it through. */
  overridable: boolean;
}

/**
 * Listing guardrails for people (console and CLI): a private or special-purpose range is refused (no mail from it
 * reaches us, and the public look-up says it cannot be listed); a range overlapping one of our own outbound pools
 * would block our own mail, so it needs an explicit override. Documentation ranges count as public (tests, examples).
 */
export function listingTargetRefusal(policy: Policy, net: Network): ListingRefusal | null {
  const first = specialPurpose(addressOf(net, 'first'));
  const last = specialPurpose(addressOf(net, 'last'));
  const special = first ?? last;
  if (special) return { reason: `${net.text} is a ${special} range, not public internet space: no mail from it reaches us, and the public look-up says it cannot be listed.`, overridable: false };
  for (const [pool, cidrs] of Object.entries(policy.network.pools)) {
    const ours = cidrs.map((c) => parseNetwork(c)).find((r) => overlaps(r, net));
    if (ours) return { reason: `${net.text} overlaps ${ours.text}, our own ${pool} outbound pool: listing it blocks our own mail. Confirm with the override if that is what you mean.`, overridable: true };
  }
  return null;
}
