import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { TICKET_KINDS } from './tickets.js';

/** What the dashboard counts per hour: confirmed reports, delist requests, delist reviews opened, unblock requests. */
export const SERIES = ['reports', 'delists', 'reviews', 'unblocks'] as const;
export type Series = (typeof SERIES)[number];

/** One hour (its start, UTC) and how many of each series arrived in it. */
export interface HourCounts {
  hour: Date;
  counts: Record<Series, number>;
}

export interface SlaCounts {
  kind: string;
  overdue: number;
  dueSoon: number;
  onTrack: number;
}

const HOUR = 3_600_000;
/** An hour's counts are settled this long after it ended (a transaction begun in it has committed by then). */
const SETTLED_MS = 5 * 60_000;
const zero = (): Record<Series, number> => ({ reports: 0, delists: 0, reviews: 0, unblocks: 0 });

/**
 * The staff dashboard's figures (migrations/0011_dashboard_indexes.ts). Every query reads one index range of its
 * window, so its cost is the rows in the window, not the size of the tables: per-hour arrivals (reports by
 * `received_at`, requests by type and `created_at`, reviews by ticket kind and `created_at`), trusted reports per
 * tenant, open tickets by SLA state (the queue's due-time indexes), and the time from a ticket's opening to its first
 * staff action or reply.
 */
export class DashboardStore {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Counts of hours that ended more than `SETTLED_MS` ago: they no longer change (rows are written with the time they
   * are written at), so each process counts an hour once and later reads count only the hours since.
   */
  private readonly settled = new Map<number, Record<Series, number>>();

  /** Arrivals per UTC hour from the hour holding `since` to `now`'s hour, every hour present (zeros included). */
  async hourly(since: Date, now = new Date()): Promise<HourCounts[]> {
    const from = Math.floor(since.getTime() / HOUR) * HOUR;
    let first = from; // the first hour not settled in memory
    while (this.settled.has(first)) first += HOUR;
    const rows = await this.counted(new Date(first));
    const live = new Map<number, Record<Series, number>>();
    for (const r of rows) {
      const at = new Date(r.hour).getTime();
      const counts = live.get(at) ?? zero();
      counts[r.series] += r.n;
      live.set(at, counts);
    }
    const hours: HourCounts[] = [];
    for (let t = from; t <= now.getTime(); t += HOUR) {
      const counts = this.settled.get(t) ?? live.get(t) ?? zero();
      if (t + HOUR + SETTLED_MS <= now.getTime()) this.settled.set(t, counts);
      hours.push({ hour: new Date(t), counts });
    }
    for (const t of this.settled.keys()) if (t < from) this.settled.delete(t);
    return hours;
  }

  /** Arrivals per series and UTC hour since `from`: one index range per series (requests_type_created, tickets_kind_created, reports_received). */
  private async counted(from: Date): Promise<Array<{ series: Series; hour: Date; n: number }>> {
    const { rows } = await sql<{ series: Series; hour: Date; n: number }>`
      SELECT 'reports' AS series, date_trunc('hour', received_at, 'UTC') AS hour, count(*)::int AS n FROM reports WHERE received_at >= ${from} GROUP BY 2
      UNION ALL
      SELECT CASE type WHEN 'delist' THEN 'delists' ELSE 'unblocks' END, date_trunc('hour', created_at, 'UTC'), count(*)::int
        FROM requests WHERE type IN ('delist', 'unblock') AND created_at >= ${from} GROUP BY 1, 2
      UNION ALL
      SELECT 'reviews', date_trunc('hour', created_at, 'UTC'), count(*)::int FROM tickets WHERE kind = 'delist-review' AND created_at >= ${from} GROUP BY 2`.execute(this.db);
    return rows;
  }

  /** The tenants with the most trusted (not duplicate) reports since `since`, most first. */
  async topTenants(since: Date, limit: number): Promise<Array<{ tenant: string; name: string | null; n: number }>> {
    const { rows } = await sql<{ tenant: string; name: string | null; n: number }>`
      SELECT r.tenant, t.name, r.n FROM (
        SELECT tenant, count(*)::int AS n FROM reports
         WHERE trusted AND duplicate_of IS NULL AND received_at >= ${since} AND tenant IS NOT NULL
         GROUP BY tenant ORDER BY n DESC, tenant LIMIT ${limit}) r
      LEFT JOIN tenants t ON t.id = r.tenant
      ORDER BY r.n DESC, r.tenant`.execute(this.db);
    return rows.map((r) => ({ tenant: r.tenant, name: r.name || null, n: r.n }));
  }

  /** Open tickets per kind: past their SLA, due within `soonHours`, and later (from the queue's due-time index). */
  async slaStates(now: Date, soonHours: number): Promise<SlaCounts[]> {
    const soon = new Date(now.getTime() + soonHours * HOUR);
    const { rows } = await sql<{ kind: string; overdue: number; due_soon: number }>`
      SELECT k.kind,
             (SELECT count(*)::int FROM tickets WHERE state = 'open' AND kind = k.kind AND due_at < ${now}) AS overdue,
             (SELECT count(*)::int FROM tickets WHERE state = 'open' AND kind = k.kind AND due_at >= ${now} AND due_at < ${soon}) AS due_soon
        FROM unnest(${[...TICKET_KINDS]}::text[]) AS k(kind)`.execute(this.db);
    const open = await this.db.selectFrom('ticket_counts').select(['kind', 'n']).where('state', '=', 'open').execute();
    const total = new Map(open.map((r) => [r.kind as string, Number(r.n)]));
    return rows.map((r) => ({ kind: r.kind, overdue: r.overdue, dueSoon: r.due_soon, onTrack: Math.max(0, (total.get(r.kind) ?? 0) - r.overdue - r.due_soon) }));
  }

  /**
   * The median time from opening to the first staff action or reply (`first_response_at`), over the tickets opened
   * since `since` that had one: an index-only range of tickets_first_response. Null when none had.
   */
  async firstResponse(since: Date): Promise<{ medianSeconds: number | null; tickets: number }> {
    const { rows } = await sql<{ median: number | null; n: number }>`
      SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - created_at)) AS median, count(*)::int AS n
        FROM tickets WHERE first_response_at >= ${since} AND created_at >= ${since}`.execute(this.db);
    const r = rows[0];
    return { medianSeconds: r?.median == null ? null : Math.round(Number(r.median)), tickets: r?.n ?? 0 };
  }
}
