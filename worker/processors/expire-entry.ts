import type { Context } from '../../src/context.js';
import type { ExpireEntryJob } from '../../src/jobs/contract.js';
import type { RoutingChange } from '../../src/domain/datasets.js';
import { parseNetwork } from '../../src/domain/ip.js';
import { exclusionsOrphanedBy } from '../../src/features/blocklist/service.js';

/** Removes an expired routing entry through the publisher, unless it was renewed since the job was planned. */
export async function processExpireEntry(ctx: Context, job: ExpireEntryJob, now = new Date()): Promise<'expired' | 'replaced' | 'gone'> {
  const hash = ctx.keys.dataset(job.dataset);
  const raw = await ctx.redis.hget(hash, job.key);
  if (!raw) return 'gone';
  const entry = JSON.parse(raw) as { listedAt?: string; assignedAt?: string; since?: string; expiresAt: string | null };
  const stamp = entry.listedAt ?? entry.assignedAt ?? entry.since;
  if (stamp !== job.stamp || !entry.expiresAt || Date.parse(entry.expiresAt) > now.getTime()) return 'replaced';
  const changes: RoutingChange[] = [{ dataset: job.dataset, op: 'remove', key: job.key }];
  // interim (issue 14): the routing datasets are still in Redis on this branch; the audit row follows the change.
  const audit = () =>
    ctx.audit.append({ at: now.toISOString(), actor: 'automation:expiry', action: `${job.dataset}.expire`, target: job.key, reason: `expired at ${entry.expiresAt}`, before: entry, after: null });
  if (job.dataset !== 'blocklist') {
    await ctx.routing.publish(changes);
    await audit();
    return 'expired';
  }
  // A listing takes the self-service exclusions that punched only it along (they expire with it).
  changes.push(...(await exclusionsOrphanedBy(ctx, parseNetwork(job.key), now)));
  const lifted = changes.slice(1).map((c) => c.key);
  const event = { at: now.toISOString(), action: 'removed' as const, by: 'expiry', detail: `expired at ${entry.expiresAt}${lifted.length ? `; its self-service exclusions went with it: ${lifted.join(', ')}` : ''}` };
  await ctx.blocklist.apply(changes, [{ cidr: job.key, event }]);
  await audit();
  return 'expired';
}
