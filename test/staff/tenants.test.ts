import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addTenant, addTenantItem } from '../../src/features/tenants/service.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { signedIn } from '../helpers/staff.js';

type Agent = Awaited<ReturnType<typeof signedIn>>;

describe('the staff tenant directory page', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  let admin: Agent;
  let triager: Agent;
  before(async () => {
    ctx = testContext();
    app = createApp(ctx);
    admin = await signedIn(ctx, app, 'admin@example.net', 'admin');
    triager = await signedIn(ctx, app, 'tri@example.net', 'triager');
    await addTenant(ctx, { id: 'acme', name: 'Acme <b>Corp</b>' }, 'test');
    await addTenantItem(ctx, 'acme', 'domain', 'shop.example', 'test');
  });
  after(() => ctx.cleanup());

  const post = (who: Agent, path: string, fields: Record<string, string>) => who.agent.post(path).type('form').send({ _csrf: who.csrf, ...fields });

  it('lets a triager read and search the directory, escaped, without the admin forms', async () => {
    const page = await triager.agent.get('/staff/tenants').expect(200);
    assert.match(page.text, /Tenant directory/);
    assert.match(page.text, /Acme &lt;b&gt;Corp&lt;\/b&gt;/);
    assert.doesNotMatch(page.text, /<b>Corp/);
    assert.match(page.text, /<code>shop\.example<\/code>/);
    assert.doesNotMatch(page.text, /action="\/staff\/tenants\/item\/add"/);
    const found = await triager.agent.get('/staff/tenants').query({ q: 'mail.shop.example' }).expect(200);
    assert.match(found.text, /id="tenant-acme"/);
    const none = await triager.agent.get('/staff/tenants').query({ q: 'nothing.example' }).expect(200);
    assert.match(none.text, /No tenant matches/);
    assert.equal((await post(triager, '/staff/tenants/add', { id: 'tri-made' })).status, 403);
  });

  it('lets an admin add a tenant and register and remove a domain, a Feedback-ID and a VERP pattern, each audited by email', async () => {
    assert.equal((await post(admin, '/staff/tenants/add', { id: 'globex', name: 'Globex' })).status, 303);
    for (const [item, value] of [['domain', 'Globex.Example'], ['feedback-id', 'globex-id'], ['verp', 'b-*@globex.example']]) {
      const res = await post(admin, '/staff/tenants/item/add', { tenant: 'globex', item: item!, value: value! });
      assert.equal(res.status, 303, `${item}: ${res.text}`);
      assert.equal(res.headers.location, '/staff/tenants?q=globex');
    }
    const page = await admin.agent.get('/staff/tenants?q=globex').expect(200);
    for (const v of ['globex.example', 'globex-id', 'b-*@globex.example']) assert.match(page.text, new RegExp(`<code>${v.replace(/[.*]/g, '\\$&')}</code>`));
    assert.match(page.text, /action="\/staff\/tenants\/item\/remove"/);
    assert.equal((await post(admin, '/staff/tenants/item/remove', { tenant: 'globex', item: 'feedback-id', value: 'globex-id' })).status, 303);
    assert.deepEqual((await ctx.tenants.get('globex'))?.feedbackIds, []);
    const audit = await ctx.audit.page({ target: 'tenant:globex' }, 10);
    assert.deepEqual(audit.map((e) => e.action).reverse(), ['tenant.add', 'tenant.domain.add', 'tenant.feedback-id.add', 'tenant.verp.add', 'tenant.feedback-id.remove']);
    assert.ok(audit.every((e) => e.actor === 'admin@example.net'));
  });

  it('answers bad input with a clear 4xx that does not echo it unescaped, never a 500', async () => {
    const bad = await post(admin, '/staff/tenants/item/add', { tenant: 'acme', item: 'domain', value: '<script>alert(1)</script>.example' });
    assert.equal(bad.status, 400);
    assert.match(bad.text, /not a domain name/);
    assert.doesNotMatch(bad.text, /<script>alert/);
    const taken = await post(admin, '/staff/tenants/item/add', { tenant: 'globex', item: 'domain', value: 'shop.example' });
    assert.equal(taken.status, 409);
    assert.match(taken.text, /registered to tenant acme already/);
    assert.equal((await post(admin, '/staff/tenants/item/add', { tenant: 'acme', item: 'password', value: 'x' })).status, 400);
    assert.equal((await post(admin, '/staff/tenants/item/add', { tenant: 'ghost', item: 'domain', value: 'ghost.example' })).status, 404);
    assert.equal((await post(admin, '/staff/tenants/add', { id: 'x'.repeat(5000) })).status, 400);
    assert.equal((await admin.agent.get('/staff/tenants').query({ q: 'x'.repeat(5000) })).status, 200);
    const noCsrf = await admin.agent.post('/staff/tenants/add').type('form').send({ id: 'no-csrf' });
    assert.equal(noCsrf.status, 403);
    assert.equal(await ctx.tenants.exists('no-csrf'), false);
  });

  it('shows the registered domains on a tenant unblock ticket, and the public pool explainer accepts them', async () => {
    const ticket = await ctx.tickets.openIn(ctx.db, { id: 't-dir-1', kind: 'tenant-unblock', tenant: 'acme', email: 'it@shop.example', subject: 'Unblock tenant acme', reason: 'test' });
    const page = await triager.agent.get(`/staff/tickets/${ticket.id}`).expect(200);
    assert.match(page.text, /id="registered-domains">shop\.example</);

    const headers = ['Received: from a.example (a.example [198.51.100.1]) by o1.outbound.example.net', 'X-Tenant-Id: acme', 'From: news@news.shop.example', 'X-Forwarded-For: 198.51.100.1', 'Subject: hi'].join('\r\n');
    const explain = async (tenantHeaders: string) => {
      const agent = request.agent(app);
      const form = await agent.get('/pools/explain').expect(200);
      return agent.post('/pools/explain').type('form').send({ _csrf: csrfOf(form), headers: tenantHeaders, hasA: 'unknown', hasMx: 'unknown' }).expect(200);
    };
    const accepted = await explain(headers);
    assert.match(accepted.text, /but the sender is in an accepted domain of the tenant/);
    const other = await explain(headers.replace('X-Tenant-Id: acme', 'X-Tenant-Id: globex'));
    assert.match(other.text, /the original sender could not be verified \(the sender is not in an accepted domain/, 'only the tenant the domain is registered to');
  });
});
