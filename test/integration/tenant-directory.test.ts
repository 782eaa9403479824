import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { CustomerSignals } from '../../src/domain/customer.js';
import { verpMatches } from '../../src/domain/tenants.js';
import { addTenant, addTenantContact, addTenantItem, acceptedDomainsOf, registeredDomainsNote, removeTenantItem } from '../../src/features/tenants/service.js';
import { AppError } from '../../src/errors.js';
import { testContext, type TestContext } from '../helpers/context.js';

const signals = (s: { header?: CustomerSignals['tenantHeader']; feedbackIds?: string[]; dkim?: string[]; mailFromDomain?: string | null; fromDomain?: string | null; mailFrom?: string | null } = {}): CustomerSignals => ({
  tenantHeader: s.header ?? null,
  customer: { feedbackIds: s.feedbackIds ?? [], dkim: (s.dkim ?? []).map((domain) => ({ domain, identity: null, selector: 's' })), mailFromDomain: s.mailFromDomain ?? null, fromDomain: s.fromDomain ?? null },
  mailFrom: s.mailFrom ?? null,
});

const rejects = async (p: Promise<unknown>, status: number, message: RegExp) =>
  assert.rejects(p, (err: unknown) => err instanceof AppError && err.status === status && message.test(err.message));

describe('the tenant directory in PostgreSQL', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = testContext();
    await addTenant(ctx, { id: 'acme', name: 'Acme Corp' }, 'test:admin');
    await addTenant(ctx, { id: 'globex' }, 'test:admin');
    await addTenantItem(ctx, 'acme', 'domain', 'Shop.Example', 'test:admin');
    await addTenantItem(ctx, 'acme', 'feedback-id', 'Acme-Sender', 'test:admin');
    await addTenantItem(ctx, 'acme', 'verp', 'bounce-*@bounces.shop.example', 'test:admin');
    await addTenantItem(ctx, 'globex', 'domain', 'eu.shop.example', 'test:admin');
    await addTenantItem(ctx, 'globex', 'domain', 'globex.example', 'test:admin');
    await addTenantItem(ctx, 'globex', 'feedback-id', 'globex-id', 'test:admin');
    await addTenantItem(ctx, 'globex', 'verp', 'b_x-*@globex.example', 'test:admin');
  });
  after(() => ctx.cleanup());

  it('keeps each tenant with its registered values, canonical, and audits every change with who made it', async () => {
    const acme = await ctx.tenants.get('acme');
    assert.deepEqual(acme && { ...acme, createdAt: 'x' }, { id: 'acme', name: 'Acme Corp', createdAt: 'x', domains: ['shop.example'], feedbackIds: ['acme-sender'], verpPatterns: ['bounce-*@bounces.shop.example'], contacts: [] });
    const audit = await ctx.audit.page({ target: 'tenant:acme' }, 10);
    assert.deepEqual(audit.map((e) => [e.action, e.actor]).reverse(), [['tenant.add', 'test:admin'], ['tenant.domain.add', 'test:admin'], ['tenant.feedback-id.add', 'test:admin'], ['tenant.verp.add', 'test:admin']]);
  });

  it('refuses a value registered to another tenant (naming it), an unknown tenant, a duplicate tenant, and bad values', async () => {
    await rejects(addTenantItem(ctx, 'globex', 'domain', 'shop.example', 'x'), 409, /shop\.example is registered to tenant acme already/);
    await rejects(addTenantItem(ctx, 'globex', 'feedback-id', 'ACME-SENDER', 'x'), 409, /registered to tenant acme/);
    await rejects(addTenantItem(ctx, 'globex', 'verp', 'bounce-*@bounces.shop.example', 'x'), 409, /registered to tenant acme/);
    await rejects(addTenantItem(ctx, 'nobody', 'domain', 'nobody.example', 'x'), 404, /no tenant "nobody"/);
    await rejects(addTenant(ctx, { id: 'acme' }, 'x'), 409, /exists already/);
    await rejects(addTenant(ctx, { id: 'bad id' }, 'x'), 400, /not a tenant id/);
    await rejects(addTenantItem(ctx, 'acme', 'domain', 'localhost', 'x'), 400, /at least two labels/);
    await rejects(addTenantItem(ctx, 'acme', 'feedback-id', 'a:b', 'x'), 400, /colon/);
    await rejects(removeTenantItem(ctx, 'globex', 'domain', 'shop.example', 'x'), 404, /not a sending domain of tenant globex/);
    await rejects(addTenantContact(ctx, 'acme', { email: 'abuse@shop.example', role: 'boss' }, 'x'), 400, /abuse, technical or admin/);
    assert.deepEqual((await ctx.tenants.get('globex'))?.domains, ['eu.shop.example', 'globex.example'], 'nothing changed');
  });

  it('checks the values again in the database (migration 0006), whatever writes them', async () => {
    for (const statement of [
      sql`INSERT INTO tenant_domains (domain, tenant_id) VALUES ('not_a domain.example', 'acme')`,
      sql`INSERT INTO tenant_feedback_ids (identifier, tenant_id) VALUES ('a:b', 'acme')`,
      sql`INSERT INTO tenant_verp_patterns (pattern, tenant_id) VALUES ('*@shop.example', 'acme')`,
      sql`INSERT INTO tenant_verp_patterns (pattern, tenant_id) VALUES ('b%@shop.example', 'acme')`,
      sql`INSERT INTO tenants (id, name) VALUES ('long', ${'x'.repeat(201)})`,
    ]) {
      await assert.rejects(statement.execute(ctx.db), /violates check constraint/);
    }
  });

  it('removes a value, audited, and lists tenants by id, name, or a registered value (a subdomain finds its parent)', async () => {
    await addTenantItem(ctx, 'acme', 'domain', 'old.example', 'test:admin');
    assert.equal(await removeTenantItem(ctx, 'acme', 'domain', 'OLD.example.', 'test:other'), 'old.example');
    assert.equal((await ctx.audit.page({ target: 'tenant:acme', action: 'tenant.domain.remove' }, 1))[0]?.actor, 'test:other');
    const ids = async (q: string) => (await ctx.tenants.list({ q })).map((t) => t.id);
    assert.deepEqual(await ids('corp'), ['acme']);
    assert.deepEqual(await ids('mail.shop.example'), ['acme']);
    assert.deepEqual(await ids('x.eu.shop.example'), ['globex', 'acme'].sort());
    assert.deepEqual(await ids('globex-id'), ['globex']);
    assert.deepEqual(await ids('100%_'), []);
  });

  it('answers the unblock checklist and the pool classifier\'s accepted domains', async () => {
    assert.match(await registeredDomainsNote(ctx, 'globex'), /2 registered sending domains \(eu\.shop\.example, globex\.example\)/);
    assert.match(await registeredDomainsNote(ctx, 'initech'), /initech is not in the directory/);
    await addTenant(ctx, { id: 'empty-co' }, 'x');
    assert.match(await registeredDomainsNote(ctx, 'empty-co'), /has no registered sending domain/);
    assert.deepEqual(await acceptedDomainsOf(ctx, 'globex'), ['eu.shop.example', 'globex.example']);
    assert.deepEqual(await acceptedDomainsOf(ctx, "x' OR 1=1"), []);
    assert.deepEqual(await ctx.tenants.ownerOfDomain('a.eu.shop.example'), { tenant: 'globex', domain: 'eu.shop.example' });
  });

  it('finds a report\'s customer from the directory, signal by signal', async () => {
    const find = async (s: CustomerSignals) => {
      const d = await ctx.tenants.resolveCustomer(s);
      return d.match ? `${d.match.tenant}/${d.match.signal}/${d.match.confidence}` : `null: ${d.reason}`;
    };
    assert.equal(await find(signals({ header: { tenant: 'acme', verified: true }, feedbackIds: ['globex-id'] })), 'acme/tenant-header-verified/verified');
    assert.equal(await find(signals({ feedbackIds: ['camp:cust:ACME-SENDER'], fromDomain: 'globex.example' })), 'acme/feedback-id/high');
    assert.equal(await find(signals({ mailFrom: 'Bounce-42@bounces.shop.example' })), 'acme/verp/high');
    assert.equal(await find(signals({ dkim: ['news.globex.example'] })), 'globex/dkim-domain/medium');
    assert.equal(await find(signals({ dkim: ['mail.eu.shop.example'] })), 'globex/dkim-domain/medium', 'the most specific registration');
    assert.equal(await find(signals({ mailFromDomain: 'shop.example' })), 'acme/mail-from-domain/medium');
    assert.equal(await find(signals({ fromDomain: 'www.shop.example' })), 'acme/from-domain/low');
    assert.equal(await find(signals({ header: { tenant: 'initech', verified: false } })), 'initech/tenant-header-claimed/low');
    assert.match(await find(signals({ feedbackIds: ['acme-sender', 'globex-id'] })), /^null: conflict: signals of high confidence/);
    assert.match(await find(signals({ fromDomain: 'nobody.example', feedbackIds: ['x:y'] })), /^null: no signal names a tenant/);
  });

  it('matches VERP patterns with LIKE as the pure rule does: _ and . are literal, * stays within the local part', async () => {
    const cases = ['b_x-1@globex.example', 'bax-1@globex.example', 'b_x-@globex.example', 'b_x-1@globex.example.evil', 'b_x-1@sub.globex.example', "b_x-1'--@globex.example"];
    for (const mailFrom of cases) {
      const m = await ctx.tenants.findCustomer(signals({ mailFrom }));
      assert.equal(m?.signal === 'verp', verpMatches('b_x-*@globex.example', mailFrom), mailFrom);
    }
  });
});
