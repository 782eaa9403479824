import type { BlockEntry, Exclusion } from './listing.js';
import type { PoolAssignment } from './pools.js';

/** An allow-list entry: mail from this network skips the blocked-sender list. Narrow, reviewed, capped (seeds/safe-sender-lists). */
export interface AllowEntry {
  cidr: string;
  reason: string;
  addedBy: string;
  createdAt: string;
  /** When staff must look at it again (a date, YYYY-MM-DD). */
  reviewBy: string;
}

/** A tenant restriction the routing engine enforces; `probation` means lifted but watched until it expires. */
export interface Restriction {
  tenant: string;
  restriction: 'unregistered-domains';
  state: 'blocked' | 'probation';
  reason: string;
  source: string;
  since: string;
  expiresAt: string | null;
}

/** Every routing dataset and the type of its entries. */
export interface DatasetValues {
  blocklist: BlockEntry;
  exclusions: Exclusion;
  assignments: PoolAssignment;
  allowlist: AllowEntry;
  restrictions: Restriction;
}
export type Dataset = keyof DatasetValues;
export const DATASETS: readonly Dataset[] = ['blocklist', 'exclusions', 'assignments', 'allowlist', 'restrictions'];

/** One change of a routing dataset, as applied atomically and written to the feed. */
export type RoutingChange = {
  [D in Dataset]: { dataset: D; op: 'upsert'; key: string; value: DatasetValues[D] } | { dataset: D; op: 'remove'; key: string };
}[Dataset];
