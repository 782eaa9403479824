import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { allow } from '../../src/features/lists/service.js';
import { assignPool } from '../../src/features/pools/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { editAssignment, editListing } from '../../src/features/lists/entries.js';
import { processExpireEntry } from '../../worker/processors/expire-entry.js';
import type { RoutingChange } from '../../src/domain/datasets.js';
import { parseAddress } from '../../src/domain/ip.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

type Agent = Awaited<ReturnType<typeof signedIn>>;

/** The first cell of each row (a row header): the entry's network, tenant or assignment. */
const rowsOf = (html: string) => [...html.matchAll(/<th scope="row">(?:<a href="[^"]*">)?<code>([^<]+)<\/code>/g)].map((m) => m[1]!);
const nextOf = (html: string) => /<a class="button" href="([^"]+)" rel="next">/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? null;
const returnOf = (html: string) => /name="return" value="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&');

/** Every row of a table, following its cursor from `url` to the last page. */
async function allRows(agent: Agent['agent'], url: string): Promise<string[]> {
  const seen: string[] = [];
  let next: string | null = url;
  for (let pages = 0; next && pages < 50; pages++) {
    const page: { text: string } = await agent.get(next).expect(200);
    seen.push(...rowsOf(page.text));
    next = nextOf(page.text);
  }
  return seen;
}

const auditOf = async (ctx: TestContext, action: string) => (await ctx.audit.page({ action }, 10))[0];

describe('the staff list tables', () => {
  let ctx: TestContext;
  let viewer: Agent;
  let triager: Agent;
  let admin: Agent;
  const t0 = Date.parse('2026-11-01T00:00:00Z');

  before(async () => {
    ctx = testContext();
    const app = createApp(ctx);
    viewer = await signedIn(ctx, app, 'view@example.net', 'viewer');
    triager = await signedIn(ctx, app, 'tri@example.net', 'triager');
    admin = await signedIn(ctx, app, 'adm@example.net', 'admin');
    // 70 exclusions of 198.51.100.0/24, one a minute; every third made by another staff member.
    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'staff', by: 'test', expires: 'never' }, new Date(t0));
    const exclusions: RoutingChange[] = Array.from({ length: 70 }, (_, i) => ({
      dataset: 'exclusions',
      op: 'upsert',
      key: `198.51.100.${i + 1}`,
      value: { cidr: `198.51.100.${i + 1}`, reason: `seeded ${i}`, source: i % 3 ? 'self-service' : 'ops@example.net', createdAt: new Date(t0 + i * 60_000).toISOString(), expiresAt: i % 2 ? new Date(t0 + (100 - i) * 3_600_000).toISOString() : null },
    }));
    await ctx.routing.publish(exclusions);
    // 60 tenant assignments across the pools, and some domains.
    for (let i = 0; i < 60; i++) {
      await assignPool(ctx, { kind: i % 5 === 4 ? 'domain' : 'tenant', key: i % 5 === 4 ? `d${i}.example` : `tenant-${String(i).padStart(2, '0')}`, pool: ['high-risk', 'relay', 'normal'][i % 3]!, expires: i % 2 ? `${i + 1}h` : 'never', reason: `seeded ${i}`, source: i % 4 ? 'staff' : 'policy', by: 'test' }, new Date(t0 + i * 60_000));
    }
    await allow(ctx, { email: 'adm@example.net', role: 'admin' } as never, { target: '203.0.113.8/29', reason: 'partner relay' });
    await restrictTenant(ctx, 'tenant-07', 'sent from unregistered domains', 'ops@example.net', new Date(t0));
    await addListing(ctx, { target: '100.0.0.0/15', category: 'manual', source: 'staff', by: 'test', expires: 'never' });
    await ctx.routing.publish([{ dataset: 'exclusions', op: 'upsert', key: '100.0.0.9', value: { cidr: '100.0.0.9', reason: 'wide one', source: 'ops@example.net', createdAt: new Date(t0).toISOString(), expiresAt: null } }]);
  });
  after(() => ctx.cleanup());

  it('pages exclusions newest first by cursor, each once, and filters by range, maker and dates', async () => {
    const all = await allRows(viewer.agent, '/staff/lists/exclusions?ip=198.51.100.0/24');
    assert.equal(all.length, 70);
    assert.equal(new Set(all).size, 70);
    assert.deepEqual(all.slice(0, 2), ['198.51.100.70', '198.51.100.69']);
    const byNetwork = await allRows(viewer.agent, '/staff/lists/exclusions?ip=198.51.100.0/28&sort=cidr');
    assert.deepEqual(byNetwork, Array.from({ length: 15 }, (_, i) => `198.51.100.${i + 1}`));
    const byOps = await allRows(viewer.agent, '/staff/lists/exclusions?source=ops%40example.net&sort=cidr&ip=198.51.100.0/24');
    assert.equal(byOps.length, 24);
    assert.ok(byOps.every((c) => (Number(c.split('.')[3]) - 1) % 3 === 0), byOps.join());
    // Created 2026-11-01 00:00 … 01:09: none the day before, all that day.
    assert.equal((await allRows(viewer.agent, '/staff/lists/exclusions?until=2026-10-31')).length, 0);
    assert.equal((await allRows(viewer.agent, '/staff/lists/exclusions?since=2026-11-01&until=2026-11-01&ip=198.51.100.0/24')).length, 70);
    const expiring = await allRows(viewer.agent, '/staff/lists/exclusions?sort=expiring&ip=198.51.100.0/24');
    assert.equal(expiring.length, 35, 'only the ones with an expiry');
    assert.equal(expiring[0], '198.51.100.70', 'the one expiring soonest first');
  });

  it('pages and filters pool assignments by kind, pool, source and key', async () => {
    const all = await allRows(viewer.agent, '/staff/lists/pools');
    assert.equal(all.length, 60);
    assert.equal(new Set(all).size, 60);
    const relayTenants = await allRows(viewer.agent, '/staff/lists/pools?kind=tenant&pool=relay&sort=key');
    assert.ok(relayTenants.length > 0 && relayTenants.every((k) => k.startsWith('tenant-') && Number(k.slice(7)) % 3 === 1), relayTenants.join());
    assert.deepEqual(await allRows(viewer.agent, '/staff/lists/pools?kind=domain&key=D4.example'), ['domain d4.example']);
    const policy = await allRows(viewer.agent, '/staff/lists/pools?source=policy');
    assert.equal(policy.length, 15);
  });

  it('shows the allow list, restrictions and tenants as tables with captions and headers', async () => {
    const allowPage = await viewer.agent.get('/staff/lists/allowlist?ip=203.0.113.9').expect(200);
    assert.deepEqual(rowsOf(allowPage.text), ['203.0.113.8/29']);
    assert.match(allowPage.text, /<caption>/);
    assert.doesNotMatch(allowPage.text, /name="return"/, 'a viewer gets no row actions');
    const restrictions = await viewer.agent.get('/staff/lists/restrictions?state=blocked').expect(200);
    assert.deepEqual(rowsOf(restrictions.text), ['tenant-07']);
    assert.match(restrictions.text, /href="\/staff\/tenants\/tenant-07"/);
    await ctx.db.insertInto('tenants').values([{ id: 'contoso', name: 'Contoso Ltd' }, { id: 'fabrikam', name: 'Fabrikam' }]).execute();
    await ctx.db.insertInto('tenant_domains').values({ domain: 'contoso.example', tenant_id: 'contoso' }).execute();
    assert.deepEqual(rowsOf((await triager.agent.get('/staff/lists/tenants').expect(200)).text), ['contoso', 'fabrikam']);
    assert.deepEqual(rowsOf((await triager.agent.get('/staff/lists/tenants?q=FABRI').expect(200)).text), ['fabrikam']);
    assert.deepEqual(rowsOf((await triager.agent.get('/staff/lists/tenants?domain=contoso.example').expect(200)).text), ['contoso']);
    assert.equal((await viewer.agent.get('/staff/lists/tenants')).status, 403, 'the directory is a triager’s');
  });

  it('answers hostile filter values with a 400 page in the console, and ignores a cursor or sort it did not write', async () => {
    for (const url of ['/staff/lists/exclusions?ip=300.1.2.3', '/staff/lists/exclusions?since=2026-02-31', '/staff/lists/exclusions?since=2026-13-45', '/staff/lists/blocklist?since=2026-13-45', '/staff/lists/blocklist?until=0000-00-00', '/staff/lists/allowlist?until=yesterday', '/staff/lists/pools?kind=%3Cscript%3Ealert(1)%3C/script%3E', '/staff/lists/pools?pool=nope', '/staff/lists/restrictions?state=gone', '/staff/lists/tenants?since=2026-12-01&until=2026-11-01']) {
      const res = await triager.agent.get(url);
      assert.equal(res.status, 400, url);
      assert.match(res.text, /Postmaster Portal · Staff/, `${url}: the console's frame`);
      assert.match(res.text, /aria-invalid="true"/, `${url}: the error beside its field`);
      assert.doesNotMatch(res.text, /<script>alert/, url);
    }
    const junk = ['%27%3B--', Buffer.from('["x","y"]').toString('base64url'), Buffer.from('["2026-11-01T00:00:00.000000Z","1.2.3.4/33"]').toString('base64url'), 'A'.repeat(5000)];
    for (const table of ['exclusions', 'allowlist', 'pools', 'restrictions', 'tenants']) {
      for (const after of junk) assert.equal((await triager.agent.get(`/staff/lists/${table}?after=${after}&sort=%27;DROP`)).status, 200, `${table} ${after.slice(0, 20)}`);
      assert.equal((await triager.agent.get(`/staff/lists/${table}?ip=a&ip=b&q[x]=1`)).status, 200, `${table}: repeated and nested keys are not text`);
    }
    assert.equal((await triager.agent.get('/staff/tenants/%3Cscript%3E')).status, 400);
    assert.equal((await triager.agent.get('/staff/tenants/nobody-at-all')).status, 404);
  });

  it('filters the listings table by the day they were listed', async () => {
    const rows = (html: string) => [...html.matchAll(/<a href="\/staff\/address\/[^"]+"><code>([^<]+)<\/code><\/a>/g)].map((m) => m[1]!);
    assert.deepEqual(rows((await viewer.agent.get('/staff/lists/blocklist?since=2026-11-01&until=2026-11-01').expect(200)).text), ['198.51.100.0/24']);
    assert.deepEqual(rows((await viewer.agent.get('/staff/lists/blocklist?until=2026-10-31').expect(200)).text), []);
    const later = rows((await viewer.agent.get('/staff/lists/blocklist?since=2026-11-02').expect(200)).text);
    assert.ok(later.includes('100.0.0.0/15') && !later.includes('198.51.100.0/24'), later.join());
  });

  it('answers hostile action fields with a 400 in the console and changes nothing', async () => {
    const version = (await ctx.routing.recent(1))[0]!.version;
    const post = (path: string, body: string) => triager.agent.post(path).type('form').send(`_csrf=${encodeURIComponent(triager.csrf)}&${body}`);
    for (const [path, body] of [
      ['/staff/lists/blocklist/edit', 'target[]=198.51.100.0/24&reason=array'],
      ['/staff/lists/blocklist/edit', `target=198.51.100.0/24&reason=${'x'.repeat(5000)}`],
      ['/staff/lists/blocklist/edit', 'target=198.51.100.0/24&expires=99999999d'],
      ['/staff/lists/exclusions/remove', 'target=198.51.100.0%2F24%27--&reason=sql'],
      ['/staff/lists/pools/edit', 'kind=tenant&key=%3Cscript%3E&reason=hostile'],
      ['/staff/lists/restrictions/edit', 'tenant=../../etc&reason=hostile'],
      ['/staff/lists/allowlist/edit', 'target=203.0.113.8/29&reviewBy=2026-13-45'],
    ] as const) {
      const res = await post(path, body);
      assert.equal(res.status, 400, `${path} ${body.slice(0, 60)}`);
      assert.match(res.text, /Postmaster Portal · Staff/, path);
      assert.doesNotMatch(res.text, /<script>/, path);
    }
    assert.equal((await ctx.routing.recent(1))[0]!.version, version, 'nothing published');
  });

  it('edits a listing from its row: reason and expiry, audited, with a new expiry job, back to the same table', async () => {
    await addListing(ctx, { target: '192.0.2.0/24', category: 'snowshoe', source: 'staff', by: 'test', expires: '2d' });
    const page = await triager.agent.get('/staff/lists/blocklist?category=snowshoe').expect(200);
    assert.match(page.text, /action="\/staff\/lists\/blocklist\/edit"/);
    const ret = returnOf(page.text);
    const res = await triager.agent.post('/staff/lists/blocklist/edit').type('form').send({ _csrf: triager.csrf, target: '192.0.2.0/24', reason: 'snowshoe run, 40 hosts', expires: '7d', return: ret }).expect(303);
    assert.equal(res.headers.location, ret);
    const entry = (await ctx.blocklist.getListing('192.0.2.0/24'))!;
    assert.equal(entry.reason, 'snowshoe run, 40 hosts');
    assert.ok(Math.abs(Date.parse(entry.expiresAt!) - Date.now() - 7 * 86_400_000) < 60_000);
    const audit = (await auditOf(ctx, 'blocklist.edit'))!;
    assert.equal(audit.actor, 'tri@example.net');
    assert.equal((audit.before as { reason: string }).reason, ctx.policy.categories.snowshoe!.reason);
    assert.equal((audit.after as { expiresAt: string }).expiresAt, entry.expiresAt);
    const jobs = await ctx.db.selectFrom('job_outbox').select(['payload', 'run_at']).where('job_name', '=', 'expire-entry').execute();
    assert.ok(jobs.some((j) => j.run_at?.toISOString() === entry.expiresAt), 'a job for the new expiry');
    assert.ok((await ctx.blocklist.history('192.0.2.0/24')).some((h) => h.detail.startsWith('edited:')));
    const empty = await triager.agent.post('/staff/lists/blocklist/edit').type('form').send({ _csrf: triager.csrf, target: '192.0.2.0/24', reason: '', expires: '' });
    assert.equal(empty.status, 400);
    assert.match(empty.text, /Postmaster Portal · Staff/);
    assert.equal((await triager.agent.post('/staff/lists/blocklist/edit').type('form').send({ _csrf: triager.csrf, target: '192.0.2.0/24', expires: 'soon' })).status, 400);
  });

  it('expires an edited entry at its new time: the old job finds it renewed, the new one removes it', async () => {
    const user = { email: 'tri@example.net', role: 'triager' } as never;
    const t = new Date();
    const { entry } = await addListing(ctx, { target: '192.0.2.200/29', category: 'manual', source: 'staff', by: 'test', expires: '2d' }, t);
    const jobsOf = async (key: string) => (await ctx.db.selectFrom('job_outbox').select(['job_id', 'payload', 'run_at']).where('job_name', '=', 'expire-entry').execute()).filter((j) => JSON.stringify(j.payload).includes(key));
    // Shortened to 1 h: a second job, at the new time, expires it; the first finds it gone.
    const shorter = await editListing(ctx, user, '192.0.2.200/29', { expires: '1h' }, t);
    assert.equal((await jobsOf('192.0.2.200/29')).length, 2, 'one job per expiry');
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: entry.cidr, stamp: entry.listedAt }, new Date(Date.parse(shorter.expiresAt!) + 1000)), 'expired');
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: entry.cidr, stamp: entry.listedAt }, new Date(Date.parse(entry.expiresAt!) + 1000)), 'gone');
    // Lengthened to 7 d: the old job, at 2 d (or its own expiry), finds it renewed; at 7 d it goes.
    await assignPool(ctx, { kind: 'tenant', key: 'tenant-exp', pool: 'high-risk', expires: '2d', reason: 'test', source: 'staff', by: 'test' }, t);
    const longer = await editAssignment(ctx, user, 'tenant', 'tenant-exp', { expires: '7d' }, t);
    assert.equal(await processExpireEntry(ctx, { dataset: 'assignments', key: 'tenant:tenant-exp', stamp: longer.assignedAt }, new Date(t.getTime() + 2 * 86_400_000 + 1000)), 'replaced');
    assert.ok(await ctx.assignments.get('tenant', 'tenant-exp'));
    assert.equal(await processExpireEntry(ctx, { dataset: 'assignments', key: 'tenant:tenant-exp', stamp: longer.assignedAt }, new Date(Date.parse(longer.expiresAt!) + 1000)), 'expired');
  });

  it('removes and edits exclusions from their rows within the guardrails', async () => {
    const page = await triager.agent.get('/staff/lists/exclusions?ip=198.51.100.5').expect(200);
    const ret = returnOf(page.text);
    assert.ok(!(await ctx.blocklist.lookup(parseAddress('198.51.100.5'))).listed);
    await triager.agent.post('/staff/lists/exclusions/edit').type('form').send({ _csrf: triager.csrf, target: '198.51.100.5', reason: 'owner confirmed the fix', return: ret }).expect(303);
    assert.equal((await ctx.blocklist.getExclusion('198.51.100.5'))?.reason, 'owner confirmed the fix');
    const res = await triager.agent.post('/staff/lists/exclusions/remove').type('form').send({ _csrf: triager.csrf, target: '198.51.100.5', reason: 'still sending', return: ret }).expect(303);
    assert.equal(res.headers.location, ret);
    assert.ok((await ctx.blocklist.lookup(parseAddress('198.51.100.5'))).listed, 'listed again');
    const audit = (await auditOf(ctx, 'exclusions.remove'))!;
    assert.equal(audit.target, '198.51.100.5');
    assert.equal(audit.reason, 'still sending');
    // An exclusion inside a range only an admin may list is only an admin's to remove.
    const refused = await triager.agent.post('/staff/lists/exclusions/remove').type('form').send({ _csrf: triager.csrf, target: '100.0.0.9', reason: 'cleanup' });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /admin role/);
    assert.ok(await ctx.blocklist.getExclusion('100.0.0.9'));
    await admin.agent.post('/staff/lists/exclusions/remove').type('form').send({ _csrf: admin.csrf, target: '100.0.0.9', reason: 'cleanup' }).expect(303);
    assert.equal(await ctx.blocklist.getExclusion('100.0.0.9'), null);
  });

  it('edits pool assignments, allow entries and restrictions, and lifts a restriction, each audited; a viewer is refused', async () => {
    const version = (await ctx.routing.recent(1))[0]!.version;
    await triager.agent.post('/staff/lists/pools/edit').type('form').send({ _csrf: triager.csrf, kind: 'tenant', key: 'tenant-00', expires: '12h' }).expect(303);
    const a = (await ctx.assignments.get('tenant', 'tenant-00'))!;
    assert.ok(a.expiresAt && Math.abs(Date.parse(a.expiresAt) - Date.now() - 12 * 3_600_000) < 60_000);
    assert.equal((await auditOf(ctx, 'pool.edit'))?.target, 'tenant:tenant-00');
    assert.equal((await ctx.routing.recent(1))[0]!.version, version + 1, 'through the publisher: a new version and feed row');

    await triager.agent.post('/staff/lists/allowlist/edit').type('form').send({ _csrf: triager.csrf, target: '203.0.113.8/29', reviewBy: new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10) }).expect(303);
    assert.equal((await auditOf(ctx, 'allowlist.edit'))?.actor, 'tri@example.net');
    const late = await triager.agent.post('/staff/lists/allowlist/edit').type('form').send({ _csrf: triager.csrf, target: '203.0.113.8/29', reviewBy: '2099-01-01' });
    assert.equal(late.status, 400, 'a review more than a year away');

    const probation = await triager.agent.post('/staff/lists/restrictions/edit').type('form').send({ _csrf: triager.csrf, tenant: 'tenant-07', reason: 'five unregistered domains' }).expect(303);
    assert.equal(probation.headers.location, '/staff/lists#restrictions');
    assert.equal((await ctx.restrictions.get('tenant-07'))?.reason, 'five unregistered domains');
    await triager.agent.post('/staff/lists/restrictions/lift').type('form').send({ _csrf: triager.csrf, tenant: 'tenant-07', reason: 'domains registered' }).expect(303);
    assert.equal((await ctx.restrictions.get('tenant-07'))?.state, 'probation');
    assert.equal((await auditOf(ctx, 'restriction.probation'))?.actor, 'tri@example.net');
    assert.equal((await triager.agent.post('/staff/lists/restrictions/edit').type('form').send({ _csrf: triager.csrf, tenant: 'tenant-07', expires: 'never' })).status, 400, 'probation always ends');

    for (const [path, body] of [
      ['/staff/lists/blocklist/edit', { target: '192.0.2.0/24', reason: 'viewer edit' }],
      ['/staff/lists/exclusions/remove', { target: '198.51.100.7', reason: 'viewer' }],
      ['/staff/lists/pools/edit', { kind: 'tenant', key: 'tenant-01', reason: 'viewer edit' }],
      ['/staff/lists/restrictions/lift', { tenant: 'tenant-07', reason: 'viewer' }],
    ] as const) {
      assert.equal((await viewer.agent.post(path).type('form').send({ _csrf: viewer.csrf, ...body })).status, 403, path);
    }
    // A listing only an admin may make is only an admin's to edit.
    const wide = await triager.agent.post('/staff/lists/blocklist/edit').type('form').send({ _csrf: triager.csrf, target: '100.0.0.0/15', reason: 'a new reason' });
    assert.equal(wide.status, 403);
    await admin.agent.post('/staff/lists/blocklist/edit').type('form').send({ _csrf: admin.csrf, target: '100.0.0.0/15', reason: 'a new reason' }).expect(303);
  });
});

describe('the list tables are served by their indexes (plans over 30,000 rows each)', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = testContext();
    await sql`INSERT INTO blocklist_exclusions (cidr, reason, source, created_at, expires_at)
      SELECT ('10.' || (i >> 16) || '.' || ((i >> 8) & 255) || '.' || (i & 255))::cidr, 'r', CASE WHEN i % 7 = 0 THEN 'ops' ELSE 'self-service' END,
             now() - make_interval(secs => i), CASE WHEN i % 2 = 0 THEN now() + make_interval(secs => (i * 7919) % 100000) END
        FROM generate_series(1, 30000) AS i`.execute(ctx.db);
    await sql`INSERT INTO pool_assignments (kind, key, pool, reason, source, assigned_at, expires_at)
      SELECT CASE WHEN i % 3 = 0 THEN 'domain' ELSE 'tenant' END, 'k' || i, (ARRAY['normal', 'high-risk', 'relay'])[i % 3 + 1], 'r', 'staff',
             now() - make_interval(secs => i), CASE WHEN i % 2 = 0 THEN now() + make_interval(secs => i) END
        FROM generate_series(1, 30000) AS i`.execute(ctx.db);
    await sql`INSERT INTO tenants (id, name, created_at) SELECT 't' || i, 'Tenant ' || i, now() - make_interval(secs => i) FROM generate_series(1, 30000) AS i`.execute(ctx.db);
    await sql`ANALYZE blocklist_exclusions`.execute(ctx.db);
    await sql`ANALYZE pool_assignments`.execute(ctx.db);
    await sql`ANALYZE tenants`.execute(ctx.db);
  });
  after(() => ctx.cleanup());

  const nodes = (plan: unknown): Array<Record<string, unknown>> => {
    const walk = (n: Record<string, unknown>): Array<Record<string, unknown>> => [n, ...((n.Plans as Array<Record<string, unknown>> | undefined) ?? []).flatMap(walk)];
    return walk((plan as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
  };
  const planOf = async (p: Promise<{ next: string | null }>) => nodes(JSON.parse((await p).next!));

  it('reads every sort of exclusions, assignments and tenants, first page or after a cursor, as an index scan with no sort', async () => {
    const lt = ctx.listTables;
    const cases: Array<[string, (after?: string, explain?: boolean) => Promise<{ next: string | null }>]> = [
      ...(['newest', 'expiring', 'cidr'] as const).map((sort): [string, (after?: string, explain?: boolean) => Promise<{ next: string | null }>] => [`exclusions ${sort}`, (after, explain) => lt.exclusions({ sort, limit: 50, ...(after && { after }) }, explain)]),
      ...(['newest', 'expiring', 'key'] as const).map((sort): [string, (after?: string, explain?: boolean) => Promise<{ next: string | null }>] => [`assignments ${sort}`, (after, explain) => lt.assignments({ sort, limit: 50, ...(after && { after }) }, explain)]),
      ...(['id', 'newest'] as const).map((sort): [string, (after?: string, explain?: boolean) => Promise<{ next: string | null }>] => [`tenants ${sort}`, (after, explain) => lt.tenants({ sort, limit: 50, ...(after && { after }) }, explain)]),
    ];
    for (const [name, page] of cases) {
      const first = await page();
      assert.ok(first.next, `${name}: a next page`);
      for (const after of [undefined, first.next!]) {
        const plan = await planOf(page(after, true));
        const types = plan.map((n) => n['Node Type']);
        assert.ok(!types.includes('Seq Scan') && !types.includes('Sort') && !types.includes('Incremental Sort'), `${name} ${after ? 'after' : 'first'}: ${types.join(' > ')}`);
      }
    }
  });

  it('serves a page in well under 20 ms', async () => {
    const first = await ctx.listTables.exclusions({ sort: 'newest', limit: 50 });
    const t = performance.now();
    for (let i = 0; i < 10; i++) await ctx.listTables.exclusions({ sort: 'newest', limit: 50, after: first.next! });
    assert.ok((performance.now() - t) / 10 < 20, `${((performance.now() - t) / 10).toFixed(1)} ms`);
  });
});
