import type { Context } from '../../context.js';
import { parseAddress } from '../../domain/ip.js';
import { adviseNdr, parseNdr, type NdrAdvice, type NdrKind, type NdrReading, type StatusFinding } from '../../domain/ndr.js';

/** Where an IP the bounce names stands on our list now (only asked for our own codes). */
export interface ListingNow {
  ip: string;
  listed: boolean;
  /** Listed in a category that only staff remove. */
  staffOnly: boolean;
}

export interface BounceAnswer {
  reading: NdrReading;
  advice: NdrAdvice & { others: Array<{ finding: StatusFinding; kind: NdrKind }> };
  listing: ListingNow | null;
}

/**
 * Reads a pasted bounce message (src/domain/ndr.ts: pure, bounded, linear) and, when it is our own block on an IP,
 * looks that IP up on our list, so the page can say whether it is still listed and whether staff must act.
 */
export async function readBounce(ctx: Context, text: string): Promise<BounceAnswer> {
  const reading = parseNdr(text);
  const advice = adviseNdr(reading);
  let listing: ListingNow | null = null;
  if ((advice.kind === 'ourListing' || advice.kind === 'ourStaff') && advice.ip) {
    const verdict = await ctx.blocklist.lookup(parseAddress(advice.ip));
    const category = verdict.listed && verdict.listing ? ctx.policy.categories[verdict.listing.category] : undefined;
    listing = { ip: advice.ip, listed: verdict.listed, staffOnly: Boolean(category && !category.selfRemovable) };
  }
  return { reading, advice, listing };
}
