import { contains, parseNetwork, type Address, type Network } from './ip.js';
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

/** A hole punched in a wider listing (an address delisted inside a listed range). */
export interface Exclusion {
  cidr: string;
  reason: string;
  source: string;
  createdAt: string;
  expiresAt: string | null;
}

export type { RoutingChange } from './datasets.js';

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
const live = (e: { expiresAt: string | null }, now: Date) => e.expiresAt === null || Date.parse(e.expiresAt) > now.getTime();

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
  const exclusion: Exclusion = { cidr: address.text, reason: meta.reason, source: meta.source, createdAt: meta.now.toISOString(), expiresAt: null };
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
