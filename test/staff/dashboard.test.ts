import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/app.js';
import { dashboard, duration, validTimeZone } from '../../src/features/staff/dashboard.js';
import { DashboardStore } from '../../src/stores/dashboard.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

const HOUR = 3_600_000;
/** A request id of the shape the table checks (16 characters). */
const rid = (name: string) => name.padEnd(16, '0');

describe('the staff dashboard (/staff/dashboard)', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  const now = Date.now();
  const ago = (h: number) => new Date(now - h * HOUR);

  before(async () => {
    ctx = testContext();
    app = createApp(ctx);
    // Arrivals at known hours: 3 delist requests 2 h ago, 1 unblock request 30 h ago, 2 reviews now and 1 ten days ago.
    for (let i = 0; i < 3; i++) await ctx.db.insertInto('requests').values({ id: rid(`dash-delist-${i}`), type: 'delist', state: 'queued', created_at: ago(2) }).execute();
    await ctx.db.insertInto('requests').values({ id: rid('dash-unblock'), type: 'unblock', state: 'queued', created_at: ago(30) }).execute();
    // Reports: tenant-a 3 trusted (one of them a duplicate, not counted) and tenant-b 1, both within 24 h; tenant-c's trusted report is 2 days old.
    const report = async (id: string, tenant: string, trusted: boolean, at: Date, duplicateOf: string | null = null) => {
      await ctx.db.insertInto('requests').values({ id: rid(id), type: 'report', state: 'received', created_at: at }).execute();
      await ctx.db.insertInto('reports').values({ request_id: rid(id), channel: 'api', reporter: 'fbl', reporter_key: 'fbl', category: 'spam', source_ip: '203.0.113.10', tenant, case_key: tenant, sample_sha256: Buffer.alloc(32), summary: JSON.stringify({}), trusted, received_at: at, duplicate_of: duplicateOf && rid(duplicateOf) }).execute();
    };
    await report('dash-rep-a1', 'tenant-a', true, ago(1));
    await report('dash-rep-a2', 'tenant-a', true, ago(3));
    await report('dash-rep-a3', 'tenant-a', true, ago(3), 'dash-rep-a2');
    await report('dash-rep-b1', 'tenant-b', true, ago(5));
    await report('dash-rep-b2', 'tenant-b', false, ago(5));
    await report('dash-rep-c1', 'tenant-c', true, ago(48));
    await ctx.tenants.addIn(ctx.db, 'tenant-a', 'Shop <A>');
    // Tickets: one review overdue, one due within 4 h, one abuse case on track (opened 10 days ago).
    const t1 = await ctx.tickets.openIn(ctx.db, { id: 't-dash-1', kind: 'delist-review', subject: 'Review 1', reason: 'budget used up' }, ago(30));
    await ctx.tickets.openIn(ctx.db, { id: 't-dash-2', kind: 'delist-review', subject: 'Review 2', reason: 'staff-only category' }, ago(22));
    await ctx.tickets.openIn(ctx.db, { id: 'case-dash-3', kind: 'abuse-case', caseKey: 'tenant-z', subject: 'Case 3', reason: 'reports' }, ago(240));
    // First responses: 30 min after opening (an action) and 90 min (a reply); the median of the two is 60 min.
    await ctx.tickets.addEventIn(ctx.db, t1.id, { at: new Date(ago(30).getTime() + 30 * 60_000).toISOString(), actor: 'a@example.net', message: 'merged', type: 'action' });
    await ctx.tickets.addEventIn(ctx.db, t1.id, { at: ago(1).toISOString(), actor: 'a@example.net', message: 'later action', type: 'action' });
    await ctx.tickets.addReplyIn(ctx.db, 't-dash-2', { at: new Date(ago(22).getTime() + 90 * 60_000).toISOString(), author: 'b@example.net', template: 'update', body: 'looking' });
    await ctx.tickets.addEventIn(ctx.db, 'case-dash-3', { at: ago(200).toISOString(), actor: 'c@example.net', message: 'a note is no response', type: 'note' });
  });
  after(() => ctx.cleanup());

  it('counts arrivals per hour and per day, the top tenants, SLA states and the median first response', async () => {
    const d = await dashboard(ctx, 'UTC', new Date(now));
    assert.equal(d.hours.length, 48);
    const hourOf = (h: number) => d.hours.find((x) => Date.parse(x.at) === Math.floor((now - h * HOUR) / HOUR) * HOUR)!;
    assert.equal(hourOf(2).counts.delists, 3);
    assert.equal(hourOf(30).counts.unblocks, 1);
    assert.equal(hourOf(1).counts.reports, 1);
    assert.equal(hourOf(3).counts.reports, 2, 'a duplicate is still a report that came in');
    const sum = (key: 'reports' | 'delists' | 'reviews' | 'unblocks') => d.days.reduce((n, x) => n + x.counts[key], 0);
    assert.equal(d.days.length, 30);
    assert.deepEqual([sum('reports'), sum('delists'), sum('reviews'), sum('unblocks')], [6, 3, 2, 1], 'the review opened 10 days ago is an abuse case, not a review');
    assert.deepEqual(d.topTenants.map((x) => [x.tenant, x.n]), [['tenant-a', 2], ['tenant-b', 1]]);
    const sla = Object.fromEntries(d.sla.map((s) => [s.kind, [s.overdue, s.dueSoon, s.onTrack]]));
    assert.deepEqual(sla['delist-review'], [1, 1, 0]);
    assert.deepEqual(sla['abuse-case'], [1, 0, 0], 'a 24 h SLA opened 10 days ago is overdue');
    assert.deepEqual(d.firstResponse, { medianSeconds: 3600, tickets: 2 });
  });

  it('counts days in the reader\'s time zone, and falls back to UTC for a zone it does not know', async () => {
    assert.equal(validTimeZone('Asia/Seoul'), 'Asia/Seoul');
    for (const bad of ['Mars/Olympus', '../../etc', 'x'.repeat(100), ['UTC'], undefined]) assert.equal(validTimeZone(bad), 'UTC');
    // 23:30 UTC is already the next day in Seoul (+09:00): a request then is counted on the Seoul date.
    const at = new Date(Math.floor(now / 86_400_000) * 86_400_000 - 30 * 60_000 - 86_400_000);
    await ctx.db.insertInto('requests').values({ id: rid('dash-late'), type: 'delist', state: 'queued', created_at: at }).execute();
    // Hours that ended are settled in the process's memory (counted once): the store that counted this hour before the
    // row was written with a past time keeps its count; a fresh one (a new process) counts it.
    const cached = await dashboard(ctx, 'UTC', new Date(now));
    assert.equal(cached.days.find((x) => x.day === at.toISOString().slice(0, 10))!.counts.delists, 0);
    const fresh = { ...ctx, dashboard: new DashboardStore(ctx.db) };
    const seoul = await dashboard(fresh, 'Asia/Seoul', new Date(now));
    const utc = await dashboard(fresh, 'UTC', new Date(now));
    const utcDay = at.toISOString().slice(0, 10);
    const seoulDay = new Date(at.getTime() + 9 * HOUR).toISOString().slice(0, 10);
    assert.notEqual(utcDay, seoulDay);
    assert.equal(utc.days.find((x) => x.day === utcDay)!.counts.delists, 1);
    assert.equal(seoul.days.find((x) => x.day === seoulDay)?.counts.delists ?? 0, 1);
    await ctx.db.deleteFrom('requests').where('id', '=', rid('dash-late')).execute();
  });

  it('serves the page with every chart\'s numbers as a table, the JSON for its script, and Chart.js from our origin', async () => {
    const { agent } = await signedIn(ctx, app, 'viewer@example.net', 'viewer');
    const queue = await agent.get('/staff').expect(200);
    assert.match(queue.text, /<h2 id="glance-h">At a glance<\/h2>/, 'the queue opens with the figures');
    assert.match(queue.text, /<strong>2<\/strong> open tickets overdue, <strong>1<\/strong> due within 4 h/);
    assert.match(queue.text, /Median time to first response: <strong>1 h<\/strong>/);
    assert.match(queue.text, /<a href="\/staff\/dashboard">/);
    const page = await agent.get('/staff/dashboard').expect(200);
    for (const id of ['table-sla', 'table-tenants', 'table-hours', 'table-days']) assert.match(page.text, new RegExp(`<table id="${id}">\\s*<caption>`), `${id} has a caption`);
    assert.match(page.text, /<th scope="row">tenant-a <span class="muted">Shop &lt;A&gt;<\/span><\/th><td><a href="\/staff\?kind=abuse-case&amp;tenant=tenant-a" aria-label="Open cases of tenant-a">2<\/a>/, 'the name, escaped; the count leads to the cases');
    const { agent: triager } = await signedIn(ctx, app, 'triager@example.net', 'triager');
    assert.match((await triager.get('/staff/dashboard').expect(200)).text, /<th scope="row"><a href="\/staff\/tenants\/tenant-a">tenant-a<\/a>/, 'a triager reaches the tenant page');
    assert.match(page.text, /<strong id="first-response">1 h<\/strong>/);
    assert.equal((page.text.match(/<details open data-table>/g) ?? []).length, 4, 'without JavaScript the tables are the page');
    assert.match(page.text, /<script src="\/staff\/assets\/chart\.umd\.min\.js" defer><\/script>/);
    assert.doesNotMatch(page.text, /<script>(?!<\/script>)/, 'no inline script');
    assert.match(page.text, /<a href="\/staff\/dashboard">Dashboard<\/a>/, 'in the staff navigation');
    // The page and the JSON its script asks for next share one count (at most SHARED_MS old): a request written
    // in between shows on neither.
    await ctx.db.insertInto('requests').values({ id: rid('dash-between'), type: 'delist', state: 'queued' }).execute();
    const json = await agent.get('/staff/dashboard.json').query({ tz: 'Asia/Seoul' }).expect(200).expect('Content-Type', /json/);
    assert.equal(json.body.timeZone, 'Asia/Seoul');
    assert.equal(json.body.hours.at(-1).counts.delists, 0);
    assert.equal((await dashboard(ctx)).hours.at(-1)!.counts.delists, 1, 'counted afresh');
    assert.equal(json.body.hours.length, 48);
    assert.equal((await agent.get('/staff/dashboard.json').query({ tz: '<script>' }).expect(200)).body.timeZone, 'UTC');
    const lib = await agent.get('/staff/assets/chart.umd.min.js').expect(200).expect('Content-Type', /javascript/);
    assert.match(lib.text, /Chart\.js v4/);
    await agent.get('/staff-dashboard.js').expect(200).expect('Content-Type', /javascript/);
  });

  it('writes durations as a desk reads them', () => {
    assert.deepEqual([null, 0, 59, 60, 3599, 3600, 3900, 47 * 3600, 48 * 3600, 50 * 3600 + 1800].map(duration), ['no response yet', '0 s', '59 s', '1 min', '1 h', '1 h', '1 h 5 min', '47 h', '2 d', '2 d 2 h']);
  });

  it('is for staff only', async () => {
    const anonymous = createApp(ctx);
    const { default: request } = await import('supertest');
    for (const path of ['/staff/dashboard', '/staff/dashboard.json', '/staff/assets/chart.umd.min.js']) {
      const res = await request(anonymous).get(path);
      assert.ok([302, 303].includes(res.status), `${path} answered ${res.status}`);
      assert.match(res.headers.location ?? '', /\/staff\/login/);
    }
  });
});
