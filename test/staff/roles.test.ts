import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

type Agent = Awaited<ReturnType<typeof signedIn>>;

/** Every staff route with the least role it needs; each role is tried on each route. */
const GETS: Array<[string, 'viewer' | 'triager' | 'admin']> = [
  ['/staff', 'viewer'],
  ['/staff/lists', 'viewer'],
  ['/staff/audit', 'viewer'],
  ['/staff/tenants', 'triager'],
  ['/staff/lists/exclusions', 'viewer'],
  ['/staff/lists/allowlist', 'viewer'],
  ['/staff/lists/pools', 'viewer'],
  ['/staff/lists/restrictions', 'viewer'],
  ['/staff/lists/tenants', 'triager'],
  ['/staff/users', 'admin'],
  ['/staff/queues', 'admin'],
];
const POSTS: Array<[string, 'viewer' | 'triager' | 'admin', Record<string, string>]> = [
  ['/staff/lists/blocklist/add', 'triager', { target: '192.0.2.77', category: 'manual', expires: '1d' }],
  ['/staff/lists/allowlist/add', 'triager', { target: '198.51.100.240/28', reason: 'partner relay' }],
  ['/staff/lists/pools/assign', 'triager', { kind: 'tenant', key: 'matrix-tenant', pool: 'relay', reason: 'test' }],
  ['/staff/bulk', 'triager', { ids: 'no-such-ticket', reason: 'x' }],
  ['/staff/lists/pools/edit', 'triager', { kind: 'tenant', key: 'matrix-tenant', reason: 'edited in the matrix' }],
  ['/staff/tenants/add', 'admin', { id: 'matrix-tenant', name: 'Matrix' }],
  ['/staff/tenants/item/add', 'admin', { tenant: 'matrix-tenant', item: 'domain', value: 'matrix.example' }],
];
const ROLES = ['viewer', 'triager', 'admin'] as const;
const rank = (r: string) => ROLES.indexOf(r as (typeof ROLES)[number]);

describe('role × route matrix', () => {
  let ctx: TestContext;
  const agents: Partial<Record<(typeof ROLES)[number], Agent>> = {};
  before(async () => {
    ctx = testContext();
    const app = createApp(ctx);
    for (const role of ROLES) agents[role] = await signedIn(ctx, app, `${role}@example.net`, role);
  });
  after(() => ctx.cleanup());

  for (const [path, needed] of GETS) {
    for (const role of ROLES) {
      const allowed = rank(role) >= rank(needed);
      it(`GET ${path} as ${role}: ${allowed ? 'allowed' : '403'}`, async () => {
        const res = await agents[role]!.agent.get(path);
        if (allowed) assert.ok([200, 301, 302].includes(res.status), `status ${res.status}`);
        else assert.equal(res.status, 403);
      });
    }
  }

  for (const [path, needed, body] of POSTS) {
    for (const role of ROLES) {
      const allowed = rank(role) >= rank(needed);
      it(`POST ${path} as ${role}: ${allowed ? 'allowed' : '403'}`, async () => {
        const { agent, csrf } = agents[role]!;
        const res = await agent.post(path).type('form').send({ _csrf: csrf, ...body });
        if (allowed) assert.ok([303, 400].includes(res.status), `status ${res.status}`);
        else assert.equal(res.status, 403);
      });
    }
  }

  it('refuses a wide block entry to a triager and takes it from an admin', async () => {
    const wide = { target: '10.0.0.0/8', category: 'manual' };
    const triager = await agents.triager!.agent.post('/staff/lists/blocklist/add').type('form').send({ _csrf: agents.triager!.csrf, ...wide, target: '198.0.0.0/15' });
    assert.equal(triager.status, 403);
    assert.match(triager.text, /admin role/);
    const admin = await agents.admin!.agent.post('/staff/lists/blocklist/add').type('form').send({ _csrf: agents.admin!.csrf, ...wide, target: '198.0.0.0/15' });
    assert.equal(admin.status, 303);
  });

  it('leads from the job dashboard back to the console', async () => {
    const page = await agents.admin!.agent.get('/staff/queues').expect(200);
    assert.match(page.text, /Back to the staff console/);
  });

  it('refuses a private range in the console, and one of our pool addresses unless the override is ticked', async () => {
    const post = (fields: Record<string, string>) => agents.admin!.agent.post('/staff/lists/blocklist/add').type('form').send({ _csrf: agents.admin!.csrf, category: 'manual', ...fields });
    const privateRange = await post({ target: '10.1.2.0/24' });
    assert.equal(privateRange.status, 400);
    assert.match(privateRange.text, /private range/);
    const pool = await post({ target: '203.0.113.70' });
    assert.equal(pool.status, 400);
    assert.match(pool.text, /our own high-risk outbound pool/);
    assert.equal((await post({ target: '203.0.113.70', override: 'on' })).status, 303);
  });

  it('refuses every staff POST without its CSRF token', async () => {
    for (const [path, , body] of POSTS) assert.equal((await agents.admin!.agent.post(path).type('form').send(body)).status, 403, path);
  });
});
