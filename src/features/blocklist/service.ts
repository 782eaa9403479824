import type { Kysely } from 'kysely';
import type { Context } from '../../context.js';
import type { Database } from '../../db/schema.js';
import { relistDurationDays } from '../../domain/delist-policy.js';
import { parseDuration } from '../../domain/duration.js';
import { IpInputError, parseAddress, parseNetwork, type Network } from '../../domain/ip.js';
import { isLive, planListing, planOrphanedExclusions, planRemoval, type BlockEntry, type RoutingChange } from '../../domain/listing.js';
import { ConflictError, ValidationError } from '../../errors.js';

export interface AddListingInput {
  target: string;
  category: string;
  /** "7d", "72h", "never"; unset: the relist policy (1, 1, 2, 4 … days by past self-delists). */
  expires?: string;
  reason?: string;
  note?: string;
  source: string;
  by: string;
}

/** Parses an IP or CIDR, refusing host bits with the corrected network as a hint. */
export function parseTarget(target: string): Network {
  try {
    return parseNetwork(target);
  } catch (err) {
    if (err instanceof IpInputError) throw new ValidationError(err.message, { target: err.reason });
    throw err;
  }
}

/**
 * Lists an address or range (or replaces its listing) through the routing publisher: the listing, the exclusions it lifts, its history event and its expiry job in one transaction under
 * the publisher's lock. `alsoIn` runs in that transaction with the listing it replaces (the caller's audit row).
 */
export async function addListing(ctx: Context, input: AddListingInput, now = new Date(), alsoIn?: (trx: Kysely<Database>, before: BlockEntry | null, entry: BlockEntry) => Promise<void>): Promise<{ entry: BlockEntry; version: number }> {
  const net = parseTarget(input.target);
  const category = ctx.policy.categories[input.category];
  if (!category) throw new ValidationError(`Unknown category "${input.category}". Known: ${Object.keys(ctx.policy.categories).join(', ')}.`, { category: 'unknown' });
  const expiresAt = await expiryOf(ctx, net, input.expires, now);
  const entry: BlockEntry = {
    cidr: net.text,
    category: input.category,
    reason: input.reason ?? category.reason,
    source: input.source,
    ...(input.note && { note: input.note }),
    listedAt: now.toISOString(),
    expiresAt,
  };
  // Planned and published under the publisher's lock, so the exclusions it lifts are the ones there at commit.
  const version = await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    // A new listing of the range covers again the addresses self-service excluded inside it.
    const exclusion = await ctx.blocklist.getExclusion(net.text, trx);
    const selfServiceInside = await ctx.blocklist.selfServiceExclusionsWithin(net, trx);
    const changes = planListing(entry, exclusion ?? undefined, selfServiceInside);
    const lifted = changes.filter((c) => c.dataset === 'exclusions').map((c) => c.key);
    const before = alsoIn ? await ctx.blocklist.getListing(net.text, trx) : null;
    const applied = await ctx.blocklist.applyIn(
      trx,
      changes,
      [{ cidr: net.text, event: { at: entry.listedAt, action: 'listed', by: input.by, detail: `${input.category}${expiresAt ? ` until ${expiresAt}` : ''}${lifted.length ? `; exclusions lifted: ${lifted.join(', ')}` : ''}` } }],
      now,
    );
    if (expiresAt) await ctx.jobs.expireEntryIn(trx, { dataset: 'blocklist', key: net.text, stamp: entry.listedAt }, expiresAt);
    await alsoIn?.(trx, before, entry);
    return applied;
  });
  return { entry, version };
}

/**
 * Removes a listing; an address inside a listed range gets an exclusion instead of a hole in the range. Self-service
 * exclusions that only the removed listing needed go with it. `authorize` sees the listings the change lifts (the
 * listing removed, or every live listing the exclusion punches) and throws to refuse it.
 */
export async function removeListing(
  ctx: Context,
  target: string,
  by: string,
  reason = 'removed by an operator',
  now = new Date(),
  authorize?: (lifted: BlockEntry[]) => void,
  alsoIn?: (trx: Kysely<Database>, change: 'removed' | 'excluded', before: BlockEntry | null) => Promise<void>,
): Promise<{ change: 'removed' | 'excluded'; covering: string; version: number }> {
  const net = parseTarget(target);
  return ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const exact = await ctx.blocklist.getListing(net.text, trx);
    const verdict = exact ? { listed: true, listing: exact } : await ctx.blocklist.lookup(parseAddress(net.text.split('/')[0]!), now, trx);
    const covering = verdict.listing;
    if (!covering || (!exact && net.prefix < parseNetwork(covering.cidr).prefix)) throw new ConflictError('NOT_LISTED', `${net.text} is not listed.`);
    const changes = planRemoval(net, verdict, { reason, source: by, now });
    if (!changes) throw new ConflictError('NOT_LISTED', `${net.text} is not listed.`);
    authorize?.(exact ? [exact] : (await ctx.blocklist.listingsContaining(net, trx)).filter((l) => isLive(l, now)));
    const orphaned = exact ? await exclusionsOrphanedBy(ctx, net, now, trx) : [];
    changes.push(...orphaned);
    const change = exact ? ('removed' as const) : ('excluded' as const);
    const detail = exact ? `${reason}${orphaned.length ? `; its self-service exclusions went with it: ${orphaned.map((c) => c.key).join(', ')}` : ''}` : `exclusion ${net.text}: ${reason}`;
    const version = await ctx.blocklist.applyIn(trx, changes, [{ cidr: covering.cidr, event: { at: now.toISOString(), action: change, by, detail } }], now);
    await alsoIn?.(trx, change, exact);
    return { change, covering: covering.cidr, version };
  });
}

/** The removals of the self-service exclusions inside listing `net` that no other live listing still needs. */
export async function exclusionsOrphanedBy(ctx: Context, net: Network, now = new Date(), db: Kysely<Database> = ctx.db): Promise<RoutingChange[]> {
  const inside = await ctx.blocklist.selfServiceExclusionsWithin(net, db);
  if (!inside.length) return [];
  const covering = new Map<string, BlockEntry[]>();
  for (const e of inside) covering.set(e.cidr, (await ctx.blocklist.listingsContaining(parseNetwork(e.cidr), db)).filter((l) => isLive(l, now)));
  return planOrphanedExclusions(net, inside, (e) => covering.get(e.cidr) ?? []);
}

async function expiryOf(ctx: Context, net: Network, expires: string | undefined, now: Date): Promise<string | null> {
  if (expires === 'never') return null;
  if (expires !== undefined) {
    const ms = parseDuration(expires);
    if (!ms) throw new ValidationError(`Cannot read the expiry "${expires}": use 30m, 72h, 7d, 2w or never.`, { expires: 'invalid' });
    return new Date(now.getTime() + ms).toISOString();
  }
  const days = relistDurationDays(ctx.policy, await ctx.blocklist.selfDelistsEver(net.text));
  return new Date(now.getTime() + days * 86_400_000).toISOString();
}

