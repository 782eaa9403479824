import type { Context } from '../../src/context.js';
import type { ExpireEntryJob } from '../../src/jobs/contract.js';

/** Removes an expired routing entry through the publisher, unless it was renewed since the job was planned. */
export async function processExpireEntry(ctx: Context, job: ExpireEntryJob, now = new Date()): Promise<'expired' | 'replaced' | 'gone'> {
  const hash = ctx.keys.dataset(job.dataset);
  const raw = await ctx.redis.hget(hash, job.key);
  if (!raw) return 'gone';
  const entry = JSON.parse(raw) as { listedAt?: string; assignedAt?: string; since?: string; expiresAt: string | null };
  const stamp = entry.listedAt ?? entry.assignedAt ?? entry.since;
  if (stamp !== job.stamp || !entry.expiresAt || Date.parse(entry.expiresAt) > now.getTime()) return 'replaced';
  await ctx.routing.publish([{ dataset: job.dataset, op: 'remove', key: job.key }], (tx) => {
    const event = { at: now.toISOString(), action: 'removed', by: 'expiry', detail: `expired at ${entry.expiresAt}` };
    if (job.dataset === 'blocklist') tx.rpush(ctx.keys.listingHistory(job.key), JSON.stringify(event));
    ctx.audit.appendIn(tx, { at: now.toISOString(), actor: 'automation:expiry', action: `${job.dataset}.expire`, target: job.key, reason: `expired at ${entry.expiresAt}`, before: entry, after: null });
  });
  return 'expired';
}
