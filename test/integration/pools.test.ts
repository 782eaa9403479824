import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { assignPool, releasePool } from '../../src/features/pools/service.js';
import { processExpireEntry } from '../../worker/processors/expire-entry.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { relayOutbox } from '../helpers/portal.js';

describe('pool assignments', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  let token: string;
  before(async () => {
    ctx = testContext();
    app = createApp(ctx);
    token = await ctx.apiTokens.create('engine');
  });
  after(() => ctx.cleanup());

  it('publishes an assignment in the snapshot and the feed, with an audit entry', async () => {
    const { assignment, version } = await assignPool(ctx, { kind: 'tenant', key: 'acme', pool: 'high-risk', expires: '72h', reason: 'spam run', source: 'cli', by: 'cli:test' });
    assert.equal(assignment.pool, 'high-risk');
    const snap = await request(app).get('/api/v1/routing/snapshot').set('Authorization', `Bearer ${token}`).expect(200);
    assert.deepEqual(snap.body.assignments.map((a: { kind: string; key: string; pool: string }) => `${a.kind}:${a.key}:${a.pool}`), ['tenant:acme:high-risk']);
    const feed = await request(app).get(`/api/v1/routing/feed?after=${version - 1}`).set('Authorization', `Bearer ${token}`).expect(200);
    assert.deepEqual(feed.body.entries[0].changes[0], { dataset: 'assignments', op: 'upsert', key: 'tenant:acme', value: assignment });
    const [audit] = await ctx.audit.recent(1);
    assert.equal(audit?.action, 'pool.assign');
    assert.equal(audit?.actor, 'cli:test');
    assert.equal(audit?.target, 'tenant:acme');
  });

  it('expires an assignment by its delayed job, publishing the removal', async () => {
    const { assignment } = await assignPool(ctx, { kind: 'domain', key: 'Mailer.Example.com', pool: 'relay', expires: '30m', reason: 'test', source: 'cli', by: 'cli:test' });
    assert.equal(assignment.key, 'mailer.example.com');
    await relayOutbox(ctx);
    const delayed = (await ctx.jobs.maintenance.getDelayed()).find((j) => j.data.key === 'domain:mailer.example.com');
    assert.ok(delayed, 'a delayed expiry job exists');
    const later = new Date(Date.parse(assignment.expiresAt!) + 1000);
    const version = await ctx.routing.version();
    assert.equal(await processExpireEntry(ctx, delayed.data, later), 'expired');
    assert.equal(await ctx.routing.version(), version + 1);
    const snap = await ctx.routing.snapshot();
    assert.equal(snap.assignments.some((a) => a.key === 'mailer.example.com'), false);
    assert.equal((await ctx.audit.recent(1))[0]?.action, 'assignments.expire');
  });

  it('refuses an unknown pool, a malformed tenant or domain, and a release of nothing, changing nothing', async () => {
    const version = await ctx.routing.version();
    await assert.rejects(assignPool(ctx, { kind: 'tenant', key: 'acme', pool: 'fast', reason: 'x', source: 't', by: 't' }), /Unknown pool/);
    await assert.rejects(assignPool(ctx, { kind: 'tenant', key: 'a b', pool: 'relay', reason: 'x', source: 't', by: 't' }), /not a valid tenant/);
    await assert.rejects(assignPool(ctx, { kind: 'domain', key: 'not_a_domain', pool: 'relay', reason: 'x', source: 't', by: 't' }), /not a valid domain/);
    await assert.rejects(releasePool(ctx, 'tenant', 'nobody', 't', 'x'), /no pool assignment/);
    assert.equal(await ctx.routing.version(), version);
  });

  it('explains which pool a pasted message would use, with the live assignment among the reasons', async () => {
    const agent = request.agent(app);
    const form = await agent.get('/pools/explain').expect(200);
    const headers = ['X-Tenant-Id: acme', 'From: news@shop.example.com', 'Subject: hi', 'Message-ID: <a@b>'].join('\r\n');
    const res = await agent.post('/pools/explain').type('form').send({ _csrf: csrfOf(form), headers, hasA: 'yes', hasMx: 'yes' }).expect(200);
    assert.match(res.text, /It would leave through the high-risk pool/);
    assert.match(res.text, /acme/);
    const ndr = await agent.post('/pools/explain').type('form').send({ _csrf: csrfOf(form), headers: 'From: MAILER-DAEMON@example.net\r\nReturn-Path: <>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x', hasA: 'unknown', hasMx: 'unknown' }).expect(200);
    assert.match(ndr.text, /high-risk pool/);
    const plain = await agent.post('/pools/explain').type('form').send({ _csrf: csrfOf(form), headers: 'From: a@clean.example.org\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' }).expect(200);
    assert.match(plain.text, /It would leave through the normal pool/);
  });

  it('refuses empty or non-header input to the explainer with a 400 page', async () => {
    const agent = request.agent(app);
    const form = await agent.get('/pools/explain');
    await agent.post('/pools/explain').type('form').send({ _csrf: csrfOf(form), headers: '' }).expect(400);
    const junk = await agent.post('/pools/explain').type('form').send({ _csrf: csrfOf(form), headers: '<script>alert(1)</script> no headers here' });
    assert.equal(junk.status, 400);
    assert.doesNotMatch(junk.text, /<script>alert/);
  });
});
