import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { createApp } from '../../src/app.js';
import { dashboard } from '../../src/features/staff/dashboard.js';
import { testContext } from '../helpers/context.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(url: string, cookie: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { cookie }, redirect: 'manual' });
    await res.text();
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** The triage queue page over HTTP with 100k tickets in PostgreSQL, against a static public page in the same run. */
export async function staffQueueBench(opts: { tickets: number; requests: number; listings?: number }): Promise<Array<[string, number, string]>> {
  const ctx = testContext();
  try {
    // Seeded with set-based SQL (one INSERT … SELECT generate_series, not 100,000 round trips), spread as before:
    // three kinds (an abuse case with a case key of its own: one open case per key), 500 tenants, 2000 emails, one in 50 critical, one a second. Times are whole milliseconds, as the
    // app writes them. ticket_counts follows by its statement trigger.
    const sla = ctx.policy.sla;
    const SEEDED_KINDS = ['delist-review', 'abuse-case', 'tenant-unblock'] as const; // the kinds seeded below (contact tickets are not)
    await sql`
      INSERT INTO tickets (id, kind, severity, subject, reason, case_key, ip, tenant, email, category, created_at, updated_at, due_at)
      SELECT 'bench-' || i, k.kind, sev, 'Bench ticket ' || i, 'bench', CASE WHEN k.kind = 'abuse-case' THEN 'bench-case-' || i END, ('198.51.' || ((i >> 8) & 255) || '.' || (i & 255))::inet,
             'tenant-' || (i % 500), 'user' || (i % 2000) || '@example.org', CASE WHEN i % 7 = 0 THEN 'botnet' ELSE 'spam-source' END,
             created, created,
             created + make_interval(hours => CASE WHEN k.kind = 'abuse-case' AND sev = 'critical' THEN ${sla['abuse-case-critical']}::int
                                                   WHEN k.kind = 'abuse-case' THEN ${sla['abuse-case']}::int
                                                   WHEN k.kind = 'delist-review' THEN ${sla['delist-review']}::int ELSE ${sla['tenant-unblock']}::int END)
        FROM generate_series(0, ${opts.tickets - 1}::int) AS i,
             LATERAL (SELECT (ARRAY['delist-review', 'abuse-case', 'tenant-unblock'])[i % 3 + 1] AS kind) k,
             LATERAL (SELECT CASE WHEN i % 50 = 0 THEN 'critical' ELSE 'normal' END AS sev) s,
             LATERAL (SELECT date_trunc('milliseconds', now()) - make_interval(secs => ${opts.tickets}::int - i) AS created) c`.execute(ctx.db);
    await sql`ANALYZE tickets`.execute(ctx.db);
    const counts = await ctx.tickets.counts('open');
    if (counts.all !== opts.tickets || SEEDED_KINDS.some((k) => counts[k] === 0)) throw new Error(`seeded ${JSON.stringify(counts)}`);
    await ctx.staff.add('bench@example.net', 'viewer', 'bench password long enough');
    const server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const loginPage = await fetch(`${base}/staff/login`);
    const jar = loginPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())![1]!;
    const login = await fetch(`${base}/staff/login`, { method: 'POST', redirect: 'manual', headers: { cookie: jar, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, email: 'bench@example.net', password: 'bench password long enough' }) });
    const cookie = `${jar}; ${login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')}`;

    const baseline = await time(`${base}/delist`, cookie, opts.requests);
    const queue = await time(`${base}/staff`, cookie, opts.requests);
    const bySeverity = await time(`${base}/staff?sort=severity&kind=abuse-case`, cookie, opts.requests);
    const filtered = await time(`${base}/staff?tenant=tenant-42`, cookie, opts.requests);
    const firstPage = await (await fetch(`${base}/staff`, { headers: { cookie } })).text();
    const next = /href="([^"]+)" rel="next"/.exec(firstPage)?.[1]?.replace(/&amp;/g, '&');
    const deep = next ? await time(`${base}${next}`, cookie, opts.requests) : NaN;
    // The dashboard over the same tickets, a fifth of them answered (first_response_at): the first request counts
    // every hour of 31 days, later ones only the hours not yet settled (src/stores/dashboard.ts).
    await sql`UPDATE tickets SET first_response_at = created_at + make_interval(secs => (hashtext(id) & 4095)) WHERE hashtext(id) % 5 = 0`.execute(ctx.db);
    await sql`VACUUM ANALYZE tickets`.execute(ctx.db);
    const dashboardFirst = await time(`${base}/staff/dashboard`, cookie, 1);
    const dashboardPage = await time(`${base}/staff/dashboard`, cookie, opts.requests);
    const counted: number[] = []; // the figures counted afresh each time (the page shares them for SHARED_MS)
    for (let i = 0; i < opts.requests; i++) {
      const t0 = performance.now();
      await dashboard(ctx, 'Asia/Seoul');
      counted.push(performance.now() - t0);
    }
    const dashboardFigures = median(counted);

    // The listings table over 1,000,000 current listings (set-based seed: distinct /32s, 6 categories, a third
    // expiring), newest first, by network, filtered by a /16 and by category, and a deep page by cursor.
    const listings = opts.listings ?? 1_000_000;
    await sql`
      INSERT INTO blocklist_entries (cidr, category, reason, source, listed_at, expires_at)
      SELECT ('11.' || ((i >> 16) & 255) || '.' || ((i >> 8) & 255) || '.' || (i & 255))::cidr,
             (ARRAY['spam-source', 'backscatter', 'botnet', 'malware', 'snowshoe', 'manual'])[i % 6 + 1], 'bench', CASE WHEN i % 2 = 0 THEN 'cli' ELSE 'staff' END,
             date_trunc('milliseconds', now()) - make_interval(secs => ${listings}::int - i),
             CASE WHEN i % 3 = 0 THEN date_trunc('milliseconds', now()) + make_interval(secs => i) END
        FROM generate_series(0, ${listings - 1}::int) AS i`.execute(ctx.db);
    // VACUUM as autovacuum does after a bulk insert (its insert threshold), so the table is read as a live one is
    // (visibility map set). The filtered variants (a /16 newest first, a category with no expiring listing sorted by
    // expiry) stay slow here: the seeded rows put `listed_at` and `expires_at` in heap order and the categories in a
    // cycle, so PostgreSQL walks the heap-ordered index expecting an early match (docs/benchmarks.md).
    await sql`VACUUM (ANALYZE) blocklist_entries`.execute(ctx.db);
    const listingsNewest = await time(`${base}/staff/lists/blocklist`, cookie, opts.requests);
    const listingsByNetwork = await time(`${base}/staff/lists/blocklist?sort=cidr`, cookie, opts.requests);
    const listingsInRange = await time(`${base}/staff/lists/blocklist?ip=11.3.0.0/16`, cookie, opts.requests);
    const listingsCategory = await time(`${base}/staff/lists/blocklist?category=botnet&sort=expiring`, cookie, opts.requests);
    let url = `${base}/staff/lists/blocklist`;
    for (let i = 0; i < 20; i++) url = base + (/href="([^"]+)" rel="next"/.exec(await (await fetch(url, { headers: { cookie } })).text())?.[1] ?? '').replace(/&amp;/g, '&');
    const listingsDeep = await time(url, cookie, opts.requests);
    server.close();
    return [
      ['staff.queue_page_ms', Math.round(queue * 100) / 100, 'ms'],
      ['staff.queue_severity_tab_ms', Math.round(bySeverity * 100) / 100, 'ms'],
      ['staff.queue_filtered_ms', Math.round(filtered * 100) / 100, 'ms'],
      ['staff.queue_next_page_ms', Math.round(deep * 100) / 100, 'ms'],
      ['baseline.public_form_page_ms', Math.round(baseline * 100) / 100, 'ms'],
      ['staff.queue_page_vs_form_page', Math.round((queue / baseline) * 100) / 100, 'ratio'],
      ['staff.queue_tickets', opts.tickets, 'tickets'],
      ['staff.dashboard_ms', Math.round(dashboardPage * 100) / 100, 'ms'],
      ['staff.dashboard_figures_ms', Math.round(dashboardFigures * 100) / 100, 'ms'],
      ['staff.dashboard_first_ms', Math.round(dashboardFirst * 100) / 100, 'ms'],
      ['staff.listings_page_ms', Math.round(listingsNewest * 100) / 100, 'ms'],
      ['staff.listings_by_network_ms', Math.round(listingsByNetwork * 100) / 100, 'ms'],
      ['staff.listings_in_range_ms', Math.round(listingsInRange * 100) / 100, 'ms'],
      ['staff.listings_category_expiring_ms', Math.round(listingsCategory * 100) / 100, 'ms'],
      ['staff.listings_page_21_ms', Math.round(listingsDeep * 100) / 100, 'ms'],
      ['staff.listings_count', listings, 'listings'],
    ];
  } finally {
    await ctx.cleanup();
  }
}
