import { contains, isWider, parseNetwork, type Address, type Network } from './ip.js';
import type { RoutingChange } from './datasets.js';

/** One blocked-sender listing, keyed by its canonical CIDR text. */
export interface BlockEntry {
  cidr: string;
  category: string;
  reason: string;
  source: string;
  note?: string;
  listedAt: string;
  expiresAt: string | null;
}

/**
 * A hole punched in a wider listing (an address delisted inside a listed range). One made by self-service
 * (`source` SELF_SERVICE) belongs to the listings it punched: it expires with the last of them, goes when none of
 * them is left, and a new listing of a range containing it lifts it. One made by staff keeps its own lifetime.
 */
export interface Exclusion {
  cidr: string;
  reason: string;
  source: string;
  createdAt: string;
  expiresAt: string | null;
}

export type { RoutingChange } from './datasets.js';

/** The `source` of an exclusion made by the self-service delist flow. */
export const SELF_SERVICE = 'self-service';

export const isSelfService = (e: Exclusion): boolean => e.source === SELF_SERVICE;

export interface Verdict {
  listed: boolean;
  /** The most specific listing covering the address, if any. */
  listing?: BlockEntry;
  /** The most specific exclusion covering the address, if any. */
  exclusion?: Exclusion;
  /** Every live listing still in effect for the address (more specific than any exclusion), most specific first. */
  covering?: BlockEntry[];
}

const prefixOf = (cidr: string) => parseNetwork(cidr).prefix;
/** True while an entry has not expired. */
export const isLive = (e: { expiresAt: string | null }, now: Date): boolean => e.expiresAt === null || Date.parse(e.expiresAt) > now.getTime();
const live = isLive;

/**
 * Longest prefix wins; at equal length an exclusion beats a listing (rbldnsd's trie semantics).
 * Inputs are the entries found for the address's candidate keys, most specific first.
 */
export function decide(listings: BlockEntry[], exclusions: Exclusion[], now: Date): Verdict {
  const liveListings = listings.filter((e) => live(e, now));
  const listing = liveListings[0];
  const exclusion = exclusions.find((e) => live(e, now));
  const excludedUpTo = exclusion ? prefixOf(exclusion.cidr) : -1;
  const covering = liveListings.filter((e) => prefixOf(e.cidr) > excludedUpTo);
  const listed = covering.length > 0;
  return { listed, ...(listing && { listing }), ...(exclusion && { exclusion }), ...(listed && { covering }) };
}

/**
 * What a self-delist of one address changes: its own listing goes when nothing wider covers it; otherwise an
 * exclusion of the address (an exclusion beats every listing up to its own length), and its own listing too.
 */
export function planSelfDelist(address: Network, verdict: Verdict, meta: { reason: string; source: string; now: Date }): RoutingChange[] | null {
  const covering = verdict.covering ?? [];
  if (!verdict.listed || covering.length === 0) return null;
  const own = covering.find((e) => e.cidr === address.text);
  if (own && covering.length === 1) return [{ dataset: 'blocklist', op: 'remove', key: address.text }];
  // A self-service hole lasts as long as the listings it punches; one made by staff has its own lifetime.
  const punched = covering.filter((e) => e !== own);
  const expiresAt = meta.source === SELF_SERVICE ? latestExpiry(punched) : null;
  const exclusion: Exclusion = { cidr: address.text, reason: meta.reason, source: meta.source, createdAt: meta.now.toISOString(), expiresAt };
  return [...(own ? [{ dataset: 'blocklist' as const, op: 'remove' as const, key: address.text }] : []), { dataset: 'exclusions', op: 'upsert', key: address.text, value: exclusion }];
}

/** What removing `target` means: drop its own listing, or exclude it from the wider listing that covers it. */
export function planRemoval(
  target: Network,
  verdict: Verdict,
  meta: { reason: string; source: string; now: Date },
): RoutingChange[] | null {
  if (!verdict.listed || !verdict.listing) return null;
  if (verdict.listing.cidr === target.text) return [{ dataset: 'blocklist', op: 'remove', key: target.text }];
  const exclusion: Exclusion = { cidr: target.text, reason: meta.reason, source: meta.source, createdAt: meta.now.toISOString(), expiresAt: null };
  return [{ dataset: 'exclusions', op: 'upsert', key: target.text, value: exclusion }];
}

/** The latest expiry of some listings: null (never) when any of them never expires. */
export function latestExpiry(listings: Array<{ expiresAt: string | null }>): string | null {
  let latest: string | null = null;
  for (const { expiresAt } of listings) {
    if (expiresAt === null) return null;
    if (latest === null || Date.parse(expiresAt) > Date.parse(latest)) latest = expiresAt;
  }
  return latest;
}

/**
 * Listing a network (again) lifts an exclusion of exactly that network, and every self-service exclusion inside
 * it, so the new listing covers those addresses again. `selfServiceInside` are the exclusions the store found in
 * the range; staff-made ones among them (and any outside the range) are kept.
 */
export function planListing(entry: BlockEntry, exactExclusion: Exclusion | undefined, selfServiceInside: Exclusion[] = []): RoutingChange[] {
  const changes: RoutingChange[] = [{ dataset: 'blocklist', op: 'upsert', key: entry.cidr, value: entry }];
  if (exactExclusion) changes.push({ dataset: 'exclusions', op: 'remove', key: entry.cidr });
  const net = parseNetwork(entry.cidr);
  for (const e of selfServiceInside) {
    if (e.cidr !== entry.cidr && isSelfService(e) && isWider(net, parseNetwork(e.cidr))) changes.push({ dataset: 'exclusions', op: 'remove', key: e.cidr });
  }
  return changes;
}

/**
 * What else goes when the listing `removed` goes: each self-service exclusion inside it that no other listing
 * still needs. `othersCovering(e)` gives the other live listings that contain the exclusion's network (at its
 * length or wider), the ones it still punches.
 */
export function planOrphanedExclusions(removed: Network, selfServiceInside: Exclusion[], othersCovering: (e: Exclusion) => BlockEntry[]): RoutingChange[] {
  const changes: RoutingChange[] = [];
  for (const e of selfServiceInside) {
    const net = parseNetwork(e.cidr);
    const inside = e.cidr === removed.text || isWider(removed, net);
    if (inside && isSelfService(e) && othersCovering(e).every((l) => l.cidr === removed.text)) changes.push({ dataset: 'exclusions', op: 'remove', key: e.cidr });
  }
  return changes;
}

/** True when `addr` falls inside the listing's network. */
export function covers(entry: BlockEntry, addr: Address): boolean {
  return contains(parseNetwork(entry.cidr), addr);
}
