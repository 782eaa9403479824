import type { RequestHandler } from 'express';
import type { Context } from '../../context.js';
import type { Restriction } from '../../domain/datasets.js';
import type { PoolAssignment } from '../../domain/pools.js';
import { NotFoundError, ValidationError } from '../../errors.js';
import type { RecentReports, ReportDay } from '../../stores/tenant-activity.js';
import { tenantId } from '../pools/service.js';

const DAY_MS = 86_400_000;

/** One row per UTC day of the last `days` (oldest first, empty days included), with a column per feedback type. */
export function reportDays(rows: ReportDay[], days: number, now = new Date()) {
  const types = [...new Set(rows.map((r) => r.feedbackType))].sort();
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const out = Array.from({ length: days }, (_, i) => {
    const day = new Date(today - (days - 1 - i) * DAY_MS).toISOString().slice(0, 10);
    const of = rows.filter((r) => r.day === day);
    const sum = (f: (r: ReportDay) => boolean) => of.filter(f).reduce((n, r) => n + r.count, 0);
    return { day, total: sum(() => true), trusted: sum((r) => r.trusted), untrusted: sum((r) => !r.trusted), byType: Object.fromEntries(types.map((t) => [t, sum((r) => r.feedbackType === t)])) as Record<string, number> };
  });
  const totals = { total: out.reduce((n, d) => n + d.total, 0), trusted: out.reduce((n, d) => n + d.trusted, 0), untrusted: out.reduce((n, d) => n + d.untrusted, 0), byType: Object.fromEntries(types.map((t) => [t, out.reduce((n, d) => n + d.byType[t]!, 0)])) as Record<string, number> };
  return { types, days: out, totals };
}

/**
 * Everything the desk knows about one tenant: its directory entry (registered domains, contacts), the tickets naming
 * it, its reports per day over 30 days (feedback types, trusted and untrusted), its pool assignment and restriction
 * now and their history (the audit log of `tenant:<id>`), and its unblock requests.
 */
export function tenantPage(ctx: Context): RequestHandler {
  return async (req, res) => {
    const id = String(req.params.id ?? '').slice(0, 100);
    if (!tenantId.safeParse(id).success) throw new ValidationError('Not a tenant id: 1 to 64 letters, digits, dots, dashes or underscores.', { id: 'invalid' });
    const now = new Date();
    const [directory, tickets, perDay, assignment, restriction, history, unblocks] = await Promise.all([
      ctx.tenants.get(id),
      ctx.tenantActivity.tickets(id),
      ctx.tenantActivity.reportsPerDay(id, 30, now),
      ctx.assignments.get('tenant', id),
      ctx.restrictions.get(id),
      ctx.audit.page({ target: `tenant:${id}` }, 200),
      ctx.tenantActivity.unblockRequests(id),
    ]);
    if (!directory && !tickets.length && !perDay.length && !assignment && !restriction && !history.length && !unblocks.length) throw new NotFoundError(`The desk knows nothing about a tenant ${id}.`);
    res.render('staff/tenant', {
      title: `Tenant ${id}`,
      id,
      directory,
      tickets,
      reports: reportDays(perDay, 30, now),
      assignment,
      restriction,
      poolHistory: history.filter((e) => e.action.startsWith('pool.') || e.action.startsWith('assignments.')),
      restrictionHistory: history.filter((e) => e.action.startsWith('restriction.') || e.action.startsWith('restrictions.')),
      unblocks,
      probationDays: ctx.policy.unblock.probationDays,
    });
  };
}

export interface TenantSummary {
  tenant: string;
  assignment: PoolAssignment | null;
  restriction: Restriction | null;
  recent: RecentReports;
}

/** What a ticket about a tenant shows inline: its pool and restriction now, and its reports of the last day and week. */
export async function tenantSummary(ctx: Context, tenant: string | null | undefined): Promise<TenantSummary | null> {
  if (!tenant || !tenantId.safeParse(tenant).success) return null;
  const [assignment, restriction, recent] = await Promise.all([ctx.assignments.get('tenant', tenant), ctx.restrictions.get(tenant), ctx.tenantActivity.recentReports(tenant)]);
  return { tenant, assignment, restriction, recent };
}
