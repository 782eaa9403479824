import type { Kysely } from 'kysely';
import type { Context } from '../../src/context.js';
import type { Database } from '../../src/db/schema.js';
import type { ExpireEntryJob } from '../../src/jobs/contract.js';
import type { RoutingChange } from '../../src/domain/datasets.js';
import { parseNetwork } from '../../src/domain/ip.js';
import { exclusionsOrphanedBy } from '../../src/features/blocklist/service.js';

/** Removes an expired routing entry through the publisher, unless it was renewed since the job was planned. */
export async function processExpireEntry(ctx: Context, job: ExpireEntryJob, now = new Date()): Promise<'expired' | 'replaced' | 'gone'> {
  const audit = (trx: Kysely<Database>, entry: { expiresAt: string | null }) =>
    ctx.audit.appendIn(trx, { at: now.toISOString(), actor: 'automation:expiry', action: `${job.dataset}.expire`, target: job.key, reason: `expired at ${entry.expiresAt}`, before: entry, after: null });
  const result = await ctx.db.transaction().execute(async (trx) => {
    await ctx.routing.lockIn(trx);
    const entry = (await ctx.routing.entry(job.dataset, job.key, trx)) as { listedAt?: string; assignedAt?: string; since?: string; expiresAt: string | null } | null;
    if (!entry) return { outcome: 'gone' as const };
    const stamp = entry.listedAt ?? entry.assignedAt ?? entry.since;
    if (stamp !== job.stamp || !entry.expiresAt || Date.parse(entry.expiresAt) > now.getTime()) return { outcome: 'replaced' as const };
    const changes: RoutingChange[] = [{ dataset: job.dataset, op: 'remove', key: job.key }];
    if (job.dataset !== 'blocklist') {
      await ctx.routing.publishIn(trx, changes, now);
      await audit(trx, entry);
      return { outcome: 'expired' as const };
    }
    // A listing takes the self-service exclusions that punched only it along (they expire with it).
    changes.push(...(await exclusionsOrphanedBy(ctx, parseNetwork(job.key), now, trx)));
    const lifted = changes.slice(1).map((c) => c.key);
    const event = { at: now.toISOString(), action: 'removed' as const, by: 'expiry', detail: `expired at ${entry.expiresAt}${lifted.length ? `; its self-service exclusions went with it: ${lifted.join(', ')}` : ''}` };
    await ctx.blocklist.applyIn(trx, changes, [{ cidr: job.key, event }], now);
    await audit(trx, entry);
    return { outcome: 'expired' as const };
  });
  return result.outcome;
}
