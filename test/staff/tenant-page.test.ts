import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createApp } from '../../src/app.js';
import { assignPool, releasePool } from '../../src/features/pools/service.js';
import { reportDays } from '../../src/features/staff/tenant-page.js';
import { addTenant, addTenantItem } from '../../src/features/tenants/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

type Agent = Awaited<ReturnType<typeof signedIn>>;
const DAY = 86_400_000;

describe('the staff tenant page', () => {
  let ctx: TestContext;
  let viewer: Agent;
  let triager: Agent;
  let caseId: string;
  const now = Date.now();
  const today = new Date(now).toISOString().slice(0, 10);
  const dayAgo = (n: number) => new Date(now - n * DAY).toISOString().slice(0, 10);

  /** A report about the tenant `daysAgo` days back, with its feedback type and trust. */
  let n = 0;
  async function report(tenant: string, daysAgo: number, feedbackType: string | null, trusted: boolean) {
    const id = `rep${String(n++).padStart(13, '0')}`;
    await ctx.db.insertInto('requests').values({ id, type: 'report', state: 'received', tenant }).execute();
    await ctx.db
      .insertInto('reports')
      .values({ request_id: id, channel: 'smtp', reporter: 'fbl', reporter_key: 'fbl', category: 'spam', source_ip: '203.0.113.10', tenant, case_key: tenant, sample_sha256: Buffer.alloc(32), summary: JSON.stringify({}), feedback_type: feedbackType, trusted, received_at: new Date(now - daysAgo * DAY - 60_000) })
      .execute();
  }

  before(async () => {
    ctx = testContext();
    const app = createApp(ctx);
    viewer = await signedIn(ctx, app, 'view@example.net', 'viewer');
    triager = await signedIn(ctx, app, 'tri@example.net', 'triager');
    await addTenant(ctx, { id: 'contoso', name: 'Contoso <i>Ltd</i>' }, 'test');
    await addTenantItem(ctx, 'contoso', 'domain', 'mail.contoso.example', 'test');
    await ctx.db.insertInto('tenant_contacts').values({ tenant_id: 'contoso', email: 'abuse@contoso.example', name: 'Abuse desk', role: 'abuse' }).execute();
    for (let i = 0; i < 3; i++) await report('contoso', 0, 'abuse', true);
    await report('contoso', 0, null, false);
    await report('contoso', 2, 'fraud', false);
    await report('contoso', 40, 'abuse', true); // outside the 30 days
    await report('fabrikam', 0, 'abuse', true); // another tenant
    caseId = (await ctx.tickets.caseFor('contoso', 'rep0000000000000', { tenant: 'contoso' })).id;
    await ctx.db.insertInto('requests').values({ id: 'unblockReq000001', type: 'unblock', state: 'needs_review', tenant: 'contoso', email: 'it@contoso.example' }).execute();
    await assignPool(ctx, { kind: 'tenant', key: 'contoso', pool: 'high-risk', expires: '72h', reason: 'five trusted reports', source: 'policy', by: 'automation:escalation' });
    await releasePool(ctx, 'tenant', 'contoso', 'tri@example.net', 'false positive');
    await assignPool(ctx, { kind: 'tenant', key: 'contoso', pool: 'relay', expires: 'never', reason: 'relay customer', source: 'staff', by: 'tri@example.net' });
    await restrictTenant(ctx, 'contoso', 'sent from unregistered domains', 'ops@example.net');
  });
  after(() => ctx.cleanup());

  it('shows cases, reports per day with feedback types and trust, pool history, restriction, unblock requests, domains and contacts', async () => {
    const page = await triager.agent.get('/staff/tenants/contoso').expect(200);
    const html = page.text;
    assert.match(html, /Contoso &lt;i&gt;Ltd&lt;\/i&gt;/, 'escaped');
    assert.match(html, new RegExp(`href="/staff/tickets/${caseId}"`));
    assert.match(html, /Reports in the last 30 days \(5\)/);
    assert.match(html, /<strong>3 trusted<\/strong>, 2 untrusted/);
    // Today: 4 reports, 3 trusted, 1 untrusted; columns abuse, fraud, unknown.
    assert.match(html, /<th scope="col">abuse<\/th><th scope="col">fraud<\/th><th scope="col">unknown<\/th>/);
    assert.match(html, new RegExp(`<th scope="row">${today}</th><td>4</td><td>3</td><td>1</td><td>3</td><td>0</td><td>1</td>`));
    assert.match(html, new RegExp(`<th scope="row">${dayAgo(2)}</th><td>1</td><td>0</td><td>1</td><td>0</td><td>1</td><td>0</td>`));
    assert.equal((html.match(/<th scope="row">\d{4}-\d{2}-\d{2}<\/th>/g) ?? []).length, 30, 'a row for each of the 30 days');
    assert.match(html, /id="tenant-pool">in the <strong>relay<\/strong> pool until released/);
    assert.match(html, /Pool assignment history \(3\)/);
    assert.match(html, /pool\.release/);
    assert.match(html, /five trusted reports/);
    assert.match(html, /id="tenant-restriction"><strong>blocked<\/strong>/);
    assert.match(html, /unblockReq000001/);
    assert.match(html, /<code>mail\.contoso\.example<\/code>/);
    assert.match(html, /abuse@contoso\.example/);
    assert.equal((await viewer.agent.get('/staff/tenants/contoso')).status, 403, 'the directory, contacts included, is a triager’s');
  });

  it('is linked from the tenants table, the directory, the queue and the case, whose page shows the tenant now inline', async () => {
    assert.match((await triager.agent.get('/staff/lists/tenants').expect(200)).text, /href="\/staff\/tenants\/contoso"/);
    assert.match((await triager.agent.get('/staff/tenants').expect(200)).text, /href="\/staff\/tenants\/contoso"/);
    assert.match((await triager.agent.get('/staff?kind=abuse-case').expect(200)).text, /href="\/staff\/tenants\/contoso"/);
    const ticket = await triager.agent.get(`/staff/tickets/${caseId}`).expect(200);
    assert.match(ticket.text, /href="\/staff\/tenants\/contoso"/);
    const inline = /<dd id="tenant-now">([\s\S]*?)<\/dd>/.exec(ticket.text)?.[1] ?? '';
    assert.match(inline, /pool: <strong>relay<\/strong>/);
    assert.match(inline, /restriction: <strong>blocked<\/strong>/);
    assert.match(inline, /3 trusted and 1 untrusted in 24 h, 3 trusted and 2 untrusted in 7 days/);
    const viewerTicket = await viewer.agent.get(`/staff/tickets/${caseId}`).expect(200);
    assert.doesNotMatch(viewerTicket.text, /href="\/staff\/tenants\/contoso"/, 'no link a viewer cannot follow');
  });

  it('counts days in UTC with the empty ones', () => {
    const at = new Date('2026-03-10T12:00:00Z');
    const r = reportDays([{ day: '2026-03-10', feedbackType: 'abuse', trusted: true, count: 2 }, { day: '2026-03-08', feedbackType: 'fraud', trusted: false, count: 1 }], 3, at);
    assert.deepEqual(r.days.map((d) => [d.day, d.total, d.trusted, d.untrusted]), [['2026-03-08', 1, 0, 1], ['2026-03-09', 0, 0, 0], ['2026-03-10', 2, 2, 0]]);
    assert.deepEqual(r.totals, { total: 3, trusted: 2, untrusted: 1, byType: { abuse: 2, fraud: 1 } });
  });
});

describe('the tenant page reads by index (plans over 30,000 reports, requests and tickets)', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = testContext();
    await sql`INSERT INTO requests (id, type, state, tenant, created_at)
      SELECT lpad(i::text, 16, 'r'), CASE WHEN i % 2 = 0 THEN 'report' ELSE 'unblock' END, 'received', 'tenant-' || (i % 300), now() - make_interval(secs => i)
        FROM generate_series(1, 60000) AS i`.execute(ctx.db);
    await sql`INSERT INTO reports (request_id, channel, reporter, reporter_key, category, source_ip, tenant, case_key, sample_sha256, summary, feedback_type, trusted, received_at)
      SELECT lpad(i::text, 16, 'r'), 'smtp', 'fbl', 'fbl', 'spam', '203.0.113.10', 'tenant-' || (i % 300), 'tenant-' || (i % 300), '\\x00'::bytea, '{}', 'abuse', i % 3 = 0, now() - make_interval(secs => i * 40)
        FROM generate_series(2, 60000, 2) AS i`.execute(ctx.db);
    await sql`INSERT INTO tickets (id, kind, subject, reason, case_key, tenant, created_at, updated_at, due_at)
      SELECT 'p-' || i, 'abuse-case', 's', 'r', 'key-' || i, 'tenant-' || (i % 300), now() - make_interval(secs => i), now(), now()
        FROM generate_series(1, 30000) AS i`.execute(ctx.db);
    for (const table of ['requests', 'reports', 'tickets']) await sql`ANALYZE ${sql.table(table)}`.execute(ctx.db);
  });
  after(() => ctx.cleanup());

  const nodes = (plan: unknown): Array<Record<string, unknown>> => {
    const walk = (n: Record<string, unknown>): Array<Record<string, unknown>> => [n, ...((n.Plans as Array<Record<string, unknown>> | undefined) ?? []).flatMap(walk)];
    return walk((plan as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
  };

  it('finds a tenant’s tickets, reports per day and unblock requests without reading a whole table', async () => {
    const plans = await ctx.tenantActivity.plans('tenant-42');
    for (const [name, plan] of Object.entries(plans)) {
      const all = nodes(plan);
      const seq = all.filter((n) => n['Node Type'] === 'Seq Scan' && ['requests', 'reports', 'tickets'].includes(String(n['Relation Name'])));
      assert.deepEqual(seq, [], `${name}: ${all.map((n) => `${n['Node Type']}${n['Index Name'] ? `(${n['Index Name']})` : ''}`).join(' > ')}`);
    }
    assert.ok((await ctx.tenantActivity.reportsPerDay('tenant-42')).length > 0);
  });
});
