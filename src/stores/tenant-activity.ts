import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';

export interface TenantTicket {
  id: string;
  kind: string;
  state: string;
  severity: string;
  subject: string;
  resolution: string | null;
  createdAt: string;
}

/** Reports of one UTC day with one feedback type and trust. */
export interface ReportDay {
  day: string;
  feedbackType: string;
  trusted: boolean;
  count: number;
}

export interface RecentReports {
  trusted24h: number;
  untrusted24h: number;
  trusted7d: number;
  untrusted7d: number;
}

export interface UnblockRequest {
  id: string;
  state: string;
  email: string | null;
  createdAt: string;
  ticketId: string | null;
}

/**
 * What the desk knows about one tenant beyond the directory and the routing datasets: the tickets naming it, its
 * reports over time (by the abuse-case key, which is the tenant id: index reports_case_received) and its unblock
 * requests (index requests_tenant, migration 0010).
 */
export class TenantActivityStore {
  constructor(private readonly db: Kysely<Database>) {}

  /** Tickets naming the tenant, newest first. */
  async tickets(tenant: string, limit = 50): Promise<TenantTicket[]> {
    const rows = await this.ticketsQuery(tenant, limit).execute();
    return rows.map((r) => ({ id: r.id, kind: r.kind, state: r.state, severity: r.severity, subject: r.subject, resolution: r.resolution, createdAt: r.created_at.toISOString() }));
  }

  /** Reports about the tenant per UTC day over the last `days` days, by feedback type and trust. */
  async reportsPerDay(tenant: string, days = 30, now = new Date()): Promise<ReportDay[]> {
    const { rows } = await this.perDayQuery(tenant, days, now).execute(this.db);
    return rows.map((r) => ({ day: r.day, feedbackType: r.feedback_type, trusted: r.trusted, count: Number(r.n) }));
  }

  /** Trusted and untrusted reports about the tenant in the last 24 hours and 7 days (a ticket page's summary). */
  async recentReports(tenant: string, now = new Date()): Promise<RecentReports> {
    const day = new Date(now.getTime() - 86_400_000);
    const week = new Date(now.getTime() - 7 * 86_400_000);
    const { rows } = await sql<{ t24: string; u24: string; t7: string; u7: string }>`
      SELECT count(*) FILTER (WHERE trusted AND received_at >= ${day}) AS t24, count(*) FILTER (WHERE NOT trusted AND received_at >= ${day}) AS u24,
             count(*) FILTER (WHERE trusted) AS t7, count(*) FILTER (WHERE NOT trusted) AS u7
        FROM reports WHERE case_key = ${tenant} AND tenant = ${tenant} AND received_at >= ${week}`.execute(this.db);
    const r = rows[0]!;
    return { trusted24h: Number(r.t24), untrusted24h: Number(r.u24), trusted7d: Number(r.t7), untrusted7d: Number(r.u7) };
  }

  /** The tenant's unblock requests (confirmed or not), newest first, with the ticket each became. */
  async unblockRequests(tenant: string, limit = 50): Promise<UnblockRequest[]> {
    const rows = await this.unblockQuery(tenant, limit).execute();
    return rows.map((r) => ({ id: r.id, state: r.state, email: r.email, createdAt: r.created_at.toISOString(), ticketId: r.ticket_id }));
  }

  /** The plans PostgreSQL chooses for the tenant page's reads (EXPLAIN, JSON): how the indexes serve them (tests, operators). */
  async plans(tenant: string): Promise<Record<'tickets' | 'perDay' | 'unblock', unknown>> {
    const explain = async (q: { explain: (format: 'json') => Promise<Array<Record<string, unknown>>> }) => (await q.explain('json'))[0]?.['QUERY PLAN'];
    const perDay = await sql<Record<string, unknown>>`EXPLAIN (FORMAT JSON) ${this.perDayQuery(tenant, 30, new Date())}`.execute(this.db);
    return { tickets: await explain(this.ticketsQuery(tenant, 50)), perDay: perDay.rows[0]?.['QUERY PLAN'], unblock: await explain(this.unblockQuery(tenant, 50)) };
  }

  private ticketsQuery(tenant: string, limit: number) {
    return this.db
      .selectFrom('tickets')
      .select(['id', 'kind', 'state', 'severity', 'subject', 'resolution', 'created_at'])
      .where('tenant', '=', tenant)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit);
  }

  private perDayQuery(tenant: string, days: number, now: Date) {
    const since = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (days - 1) * 86_400_000);
    return sql<{ day: string; feedback_type: string; trusted: boolean; n: string }>`
      SELECT to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, coalesce(feedback_type, 'unknown') AS feedback_type, trusted, count(*) AS n
        FROM reports WHERE case_key = ${tenant} AND tenant = ${tenant} AND received_at >= ${since}
       GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`;
  }

  private unblockQuery(tenant: string, limit: number) {
    return this.db
      .selectFrom('requests')
      .leftJoin('tickets', 'tickets.request_id', 'requests.id')
      .select(['requests.id', 'requests.state', 'requests.email', 'requests.created_at', 'tickets.id as ticket_id'])
      .where('requests.tenant', '=', tenant)
      .where('requests.type', '=', 'unblock')
      .orderBy('requests.created_at', 'desc')
      .limit(limit);
  }
}
