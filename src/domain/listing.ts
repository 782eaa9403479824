import { contains, parseNetwork, type Address, type Network } from './ip.js';

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

/** A hole punched in a wider listing (an address delisted inside a listed range). */
export interface Exclusion {
  cidr: string;
  reason: string;
  source: string;
  createdAt: string;
  expiresAt: string | null;
}

/** One change of a routing dataset, as applied atomically and written to the feed. */
export type RoutingChange =
  | { dataset: 'blocklist'; op: 'upsert'; key: string; value: BlockEntry }
  | { dataset: 'exclusions'; op: 'upsert'; key: string; value: Exclusion }
  | { dataset: 'assignments'; op: 'upsert'; key: string; value: Record<string, unknown> }
  | { dataset: 'blocklist' | 'exclusions' | 'assignments'; op: 'remove'; key: string };

export interface Verdict {
  listed: boolean;
  /** The most specific listing covering the address, if any. */
  listing?: BlockEntry;
  /** The most specific exclusion covering the address, if any. */
  exclusion?: Exclusion;
}

const prefixOf = (cidr: string) => parseNetwork(cidr).prefix;
const live = (e: { expiresAt: string | null }, now: Date) => e.expiresAt === null || Date.parse(e.expiresAt) > now.getTime();

/**
 * Longest prefix wins; at equal length an exclusion beats a listing (rbldnsd's trie semantics).
 * Inputs are the entries found for the address's candidate keys, most specific first.
 */
export function decide(listings: BlockEntry[], exclusions: Exclusion[], now: Date): Verdict {
  const listing = listings.find((e) => live(e, now));
  const exclusion = exclusions.find((e) => live(e, now));
  const listed = !!listing && (!exclusion || prefixOf(exclusion.cidr) < prefixOf(listing.cidr));
  return { listed, ...(listing && { listing }), ...(exclusion && { exclusion }) };
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

/** Listing a network again lifts an exclusion of exactly that network, so the listing takes effect. */
export function planListing(entry: BlockEntry, exactExclusion: Exclusion | undefined): RoutingChange[] {
  const changes: RoutingChange[] = [{ dataset: 'blocklist', op: 'upsert', key: entry.cidr, value: entry }];
  if (exactExclusion) changes.push({ dataset: 'exclusions', op: 'remove', key: entry.cidr });
  return changes;
}

/** True when `addr` falls inside the listing's network. */
export function covers(entry: BlockEntry, addr: Address): boolean {
  return contains(parseNetwork(entry.cidr), addr);
}
