import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { assignPool } from '../../src/features/pools/service.js';
import { createDraft, submitDraft, submitMachineReport } from '../../src/features/report/service.js';
import { translator } from '../../src/i18n/index.js';
import { processIngestReport } from '../../worker/processors/ingest-report.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { storedRequestIds } from '../helpers/portal.js';

const LANGS = ['en', 'ko', 'zh-TW'] as const;
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
const roomy = { max: 1000, windowMinutes: 10 };

/**
 * Issue 13, item 4: nothing private on a public answer. Each secret below is something only staff (or the
 * person it belongs to) may see; every public answer is searched for it in every language and as JSON.
 */
describe('public answers carry nothing private', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: Object.fromEntries(Object.keys(p.rateLimits).map((k) => [k, roomy])) as typeof p.rateLimits }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('the pool explainer gives an assignment\'s public reason, never the staff\'s words, in every language', async () => {
    await assignPool(ctx, { kind: 'tenant', key: 'acme-private', pool: 'high-risk', expires: '72h', reason: 'STAFF-SECRET: Bob Smith at acme admitted a breach, ticket t-abc', source: 'staff', by: 'desk@portal.example.net' });
    await assignPool(ctx, { kind: 'domain', key: 'bulk.example.com', pool: 'high-risk', expires: '72h', reason: 'AUTO-SECRET 5 distinct abuse reports in case-XYZ', source: 'automation', by: 'automation:abuse-escalation' });
    for (const lang of LANGS) {
      const t = translator(lang);
      const agent = request.agent(app);
      const form = await agent.get('/pools/explain').set('Accept-Language', lang).expect(200);
      const tenant = await agent
        .post('/pools/explain')
        .set('Accept-Language', lang)
        .type('form')
        .send({ _csrf: csrfOf(form), headers: 'X-Tenant-Id: acme-private\r\nFrom: news@shop.example.com\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' })
        .expect(200);
      for (const secret of ['STAFF-SECRET', 'Bob Smith', 'ticket t-abc', 'desk@portal.example.net']) assert.doesNotMatch(tenant.text, new RegExp(secret), `${lang}: ${secret}`);
      assert.ok(tenant.text.includes(escapeHtml(t('pools.explain.publicReason.staff', { pool: t('pools.name.high-risk') }))), `${lang}: the public reason of a staff assignment`);
      assert.match(tenant.text, /acme-private/, 'the tenant the pasted headers name is shown');

      const domain = await agent
        .post('/pools/explain')
        .set('Accept-Language', lang)
        .type('form')
        .send({ _csrf: csrfOf(form), headers: 'From: news@mail.bulk.example.com\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' })
        .expect(200);
      for (const secret of ['AUTO-SECRET', 'case-XYZ', 'abuse-escalation']) assert.doesNotMatch(domain.text, new RegExp(secret), `${lang}: ${secret}`);
      assert.ok(domain.text.includes(escapeHtml(t('pools.explain.publicReason.automation', { pool: t('pools.name.high-risk') }))), `${lang}: the public reason of an automatic assignment`);
    }
  });

  it('the public check answers cidr, category, public reason and dates: never the operator\'s note, reason or source', async () => {
    await addListing(ctx, { target: '192.0.2.0/24', category: 'botnet', reason: 'OPERATOR-REASON seen in honeypot 7 of customer Foo', note: 'NOTE-SECRET call Alice', source: 'cli', by: 'cli:root' });
    const res = await request(app).get('/api/v1/blocklist/check/192.0.2.77').expect(200);
    assert.deepEqual(Object.keys(res.body).sort(), ['entry', 'ip', 'listed']);
    assert.deepEqual(Object.keys(res.body.entry).sort(), ['category', 'cidr', 'expiresAt', 'listedAt', 'reason']);
    assert.equal(res.body.entry.cidr, '192.0.2.0/24');
    assert.equal(res.body.entry.category, 'botnet');
    assert.equal(res.body.entry.reason, ctx.policy.categories.botnet!.reason);
    for (const secret of ['NOTE-SECRET', 'Alice', 'OPERATOR-REASON', 'honeypot', '"source"', 'cli:root', '"note"']) assert.ok(!res.text.includes(secret), secret);
    const unlisted = await request(app).get('/api/v1/blocklist/check/198.51.100.250').expect(200);
    assert.deepEqual(unlisted.body, { ip: '198.51.100.250', listed: false });
  });

  /** Every public answer about a request: the page in each language, the JSON, and the live JSON in each language. */
  async function publicAnswers(id: string): Promise<string[]> {
    const out: string[] = [];
    for (const lang of LANGS) out.push((await request(app).get(`/status/${id}`).set('Accept-Language', lang).expect(200)).text);
    out.push((await request(app).get(`/status/${id}`).set('Accept', 'application/json').expect(200)).text);
    // What the status page's script follows (issue 16).
    for (const lang of LANGS) out.push((await request(app).get(`/status/${id}.json?lng=${lang}`).expect(200)).text);
    return out;
  }

  it('a report\'s status names no other request and nobody: not the first report of a duplicate or a case, not a reporter\'s token, address or MAIL FROM', async () => {
    const token = await ctx.apiTokens.create('TOKEN-NAME-fbl-partner');
    const api = (body: string) => request(app).post('/api/v1/reports').set('Authorization', `Bearer ${token}`).set('X-Forwarded-For', '192.0.2.201').set('Content-Type', 'message/rfc822').send(body).expect(202);
    const first = (await api(messageFromTenant({ tenant: 'tenant-priv', messageId: '<p1@shop.example.com>' }))).body.id as string;
    await processIngestReport(ctx, { requestId: first });
    const smtp = await submitMachineReport(ctx, Buffer.from(messageFromTenant({ tenant: 'tenant-priv', messageId: '<p1@shop.example.com>' })), { channel: 'smtp', clientIp: '198.51.100.199', mailFrom: 'fbl-bounces@partner.example', smtpUser: 'SMTP-USER-partner' });
    await processIngestReport(ctx, { requestId: smtp.id });
    const other = (await api(messageFromTenant({ tenant: 'tenant-priv', messageId: '<p2@shop.example.com>' }))).body.id as string;
    await processIngestReport(ctx, { requestId: other });
    const secrets = ['TOKEN-NAME', '192.0.2.201', '198.51.100.199', 'fbl-bounces', 'partner.example', 'SMTP-USER'];

    for (const [id, others] of [[first, [smtp.id, other]], [smtp.id, [first, other]], [other, [first, smtp.id]]] as const) {
      const stored = await ctx.requests.get(id);
      assert.ok(stored && stored.state !== 'queued', 'the report was ingested');
      for (const body of await publicAnswers(id)) {
        for (const o of others) assert.ok(!body.includes(o), `status of ${id} names request ${o}`);
        for (const s of secrets) assert.ok(!body.includes(s), `status of ${id} shows ${s}`);
        assert.ok(body.includes(id), 'its own id is shown');
      }
    }
    // Staff keep the details.
    assert.match((await ctx.requests.get(smtp.id))!.reason ?? '', new RegExp(first));
  });

  it('a web report\'s status shows its reporter only as a masked address', async () => {
    const draft = await createDraft(ctx, { email: 'reporter.private@example.org', category: 'spam', comment: '', sample: Buffer.from(messageFromTenant({ tenant: 'tenant-priv2', messageId: '<w1@shop.example.com>' })) });
    await submitDraft(ctx, draft);
    const id = (await storedRequestIds(ctx)).at(-1)!;
    for (const body of await publicAnswers(id)) {
      assert.ok(!body.includes('reporter.private'), 'the address is masked');
    }
    const page = await request(app).get(`/status/${id}`).expect(200);
    assert.match(page.text, /r…@example\.org/);
  });
});
