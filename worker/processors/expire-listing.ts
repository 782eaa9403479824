import type { Context } from '../../src/context.js';
import type { ExpireListingJob } from '../../src/jobs/contract.js';

/** Removes an expired listing through the publisher, unless it was replaced (relisted) since the job was planned. */
export async function processExpireListing(ctx: Context, job: ExpireListingJob, now = new Date()): Promise<'expired' | 'replaced' | 'gone'> {
  const entry = await ctx.blocklist.getListing(job.cidr);
  if (!entry) return 'gone';
  if (entry.listedAt !== job.listedAt || !entry.expiresAt || Date.parse(entry.expiresAt) > now.getTime()) return 'replaced';
  await ctx.blocklist.apply([{ dataset: 'blocklist', op: 'remove', key: job.cidr }], [{ cidr: job.cidr, event: { at: now.toISOString(), action: 'removed', by: 'expiry', detail: `listing expired at ${entry.expiresAt}` } }]);
  return 'expired';
}
