import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import request from 'supertest';
import { createAbuseSmtpServer, listenSmtp } from '../../src/smtp/intake.js';
import { addTenant, addTenantItem } from '../../src/features/tenants/service.js';
import { csrfOf } from '../helpers/forms.js';
import { makeKey, policyKey, signed } from '../helpers/dkim.js';
import { foreignMessage, messageFromTenant } from '../helpers/messages.js';
import { eventually, startPortal, storedRequestIds } from '../helpers/portal.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;

/** Our outbound DKIM key, and five feedback-loop partners known by their API tokens (only they may move a tenant). */
const ours = makeKey('outbound.example.net', 'pm1');
const PARTNER_TOKENS = ['p1', 'p2', 'p3', 'p4', 'p5'];

describe('abuse reports end to end (real Redis, worker, SMTP)', () => {
  let portal: Portal;
  let token: string;
  const partnerTokens: string[] = [];
  before(async () => {
    portal = await startPortal({
      policy: (p) => ({ ...p, partners: PARTNER_TOKENS.map((t) => ({ name: `Partner ${t}`, clientIps: [], dkimDomains: [], apiTokens: [t] })), network: { ...p.network, dkimKeys: [policyKey(ours)] } }),
    });
    token = await portal.ctx.apiTokens.create('fbl-partner');
    for (const t of PARTNER_TOKENS) partnerTokens.push(await portal.ctx.apiTokens.create(t));
  });
  after(() => portal.stop());

  const api = (body: string | Buffer, type = 'message/rfc822') => request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(body);
  const stored = () => storedRequestIds(portal.ctx).then((ids) => ids.length);
  const stateOf = (id: string, wanted: string[]) =>
    eventually(async () => {
      const res = await request(portal.app).get(`/status/${id}`).set('Accept', 'application/json');
      return wanted.includes(res.body.state) ? res.body : null;
    });

  it('answers a machine report with 202 and what was parsed, then counts it against the tenant', async () => {
    const res = await api(messageFromTenant({ tenant: 'tenant-a', messageId: '<m1@shop.example.com>' })).expect(202);
    assert.deepEqual(res.body.parsed, { sourceIp: '203.0.113.10', tenant: 'tenant-a', mailFrom: 'bounces@mailer.example.com', from: 'deals@shop.example.com', messageId: '<m1@shop.example.com>', feedbackType: null, reportedDomain: null, format: 'message' });
    assert.match(res.body.statusUrl, new RegExp(`/status/${res.body.id}$`));
    await stateOf(res.body.id, ['received']);
    // A token that is no partner's, and a tenant our DKIM does not vouch for: kept as evidence, not counted (issue 13).
    assert.match((await portal.ctx.requests.get(res.body.id))!.reason!, /Kept as evidence against tenant tenant-a/);
  });

  it('finds the customer without our tenant header, from the tenant directory (Feedback-ID, then the sending domain), and says how', async () => {
    await addTenant(portal.ctx, { id: 'acme-co' }, 'test');
    await addTenantItem(portal.ctx, 'acme-co', 'feedback-id', 'acme-sender', 'test');
    await addTenant(portal.ctx, { id: 'shoply' }, 'test');
    await addTenantItem(portal.ctx, 'shoply', 'domain', 'shoply.example', 'test');
    const noHeader = (id: string, extra: string, from = 'deals@shop.example.com') =>
      messageFromTenant({ tenant: 'x', messageId: id, from }).replace('X-Tenant-Id: x\r\n', extra);
    const byFeedbackId = (await api(noHeader('<c1@shop.example.com>', 'Feedback-ID: c42:campaign:acme-sender:esp\r\n')).expect(202)).body.id;
    const byDomain = (await api(noHeader('<c2@shoply.example>', '', 'news@mail.shoply.example')).expect(202)).body.id;
    const nobody = (await api(noHeader('<c3@nowhere.example>', '', 'x@nowhere.example')).expect(202)).body.id;
    for (const id of [byFeedbackId, byDomain, nobody]) await stateOf(id, ['received']);
    const row = (id: string) => portal.ctx.db.selectFrom('reports').select(['tenant', 'tenant_proof', 'case_key']).where('request_id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(await row(byFeedbackId), { tenant: 'acme-co', tenant_proof: 'feedback-id: Feedback-ID part acme-sender', case_key: 'acme-co' });
    const domainRow = await row(byDomain);
    assert.equal(domainRow.tenant, 'shoply');
    assert.match(domainRow.tenant_proof!, /^from-domain: 5322\.From domain mail\.shoply\.example \(registered: shoply\.example\)/);
    assert.deepEqual(await row(nobody), { tenant: null, tenant_proof: null, case_key: 'ip-203.0.113.10' });
    assert.match((await portal.ctx.requests.get(byFeedbackId))!.reason!, /Kept as evidence against tenant acme-co/, 'found, but not by our DKIM signature: it does not move a pool');
    // The reporter reads how the customer was found, never who it is.
    const status = await request(portal.app).get(`/status/${byFeedbackId}`).set('Accept', 'application/json');
    assert.match(JSON.stringify(status.body), /identified our customer who sent it from the message's Feedback-ID/);
    assert.doesNotMatch(JSON.stringify(status.body), /acme-co/);
    const ko = await request(portal.app).get(`/status/${nobody}`).set('Accept', 'application/json').set('Accept-Language', 'ko');
    assert.match(JSON.stringify(ko.body), /어느 고객이 보낸 메일인지 아직 알 수 없어요/);
    // The case with no customer is in its own tab of the queue.
    const { tickets } = await portal.ctx.tickets.query({ state: 'open', sort: 'age', filters: { tenant: '-' }, limit: 50 });
    assert.ok(tickets.some((t) => t.caseKey === 'ip-203.0.113.10'));
    assert.ok(tickets.every((t) => !t.tenant));
  });

  it('refuses a message that did not leave through our pools with 422 NotOurMail and stores nothing', async () => {
    const before = await stored();
    const res = await api(foreignMessage).expect(422);
    assert.equal(res.body.code, 'NotOurMail');
    assert.equal(await stored(), before);
  });

  it('refuses junk, an empty body, an oversized body and a missing token with 4xx and stores nothing', async () => {
    const before = await stored();
    assert.equal((await api(Buffer.from([0, 1, 2, 3, 255, 254, 0, 0]), 'application/octet-stream')).status, 400);
    assert.equal((await api('just some words, not a message', 'text/plain')).status, 400);
    assert.equal((await api('', 'message/rfc822')).status, 400);
    assert.equal((await api(Buffer.alloc(11 * 1024 * 1024, 'a'), 'message/rfc822')).status, 413);
    assert.equal((await request(portal.app).post('/api/v1/reports').send('x')).status, 401);
    const nested = await api(readFileSync(new URL('../fixtures/samples/nested-12.eml', import.meta.url)));
    assert.equal(nested.status, 400);
    assert.match(nested.body.error, /deep|nest/i);
    assert.equal(await stored(), before);
  });

  it('moves a tenant to the high-risk pool after trusted reports from five distinct partners; a repeated one does not count', async () => {
    // Since issue 13 only trusted reports count: a configured partner's, about a message our DKIM key signed.
    const partnerApi = async (n: number, messageId: string, subject?: string) =>
      request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${partnerTokens[n - 1]}`).set('Content-Type', 'message/rfc822').send(await signed(messageFromTenant({ tenant: 'tenant-b', messageId, ...(subject && { subject }) }), ours)).expect(202);
    const ids: string[] = [];
    for (let n = 1; n <= 4; n++) ids.push((await partnerApi(n, `<b${n}@shop.example.com>`)).body.id);
    const repeated = (await partnerApi(5, '<b1@shop.example.com>', 'same id, other text')).body.id;
    assert.equal((await stateOf(repeated, ['received', 'duplicate'])).state, 'duplicate');
    for (const id of ids) await stateOf(id, ['received']);
    assert.equal((await portal.ctx.routing.snapshot()).assignments.some((a) => a.key === 'tenant-b'), false);

    const fifth = (await partnerApi(5, '<b5@shop.example.com>')).body.id;
    await stateOf(fifth, ['received']);
    const snap = await eventually(async () => {
      const s = await request(portal.app).get('/api/v1/routing/snapshot').set('Authorization', `Bearer ${token}`);
      return s.body.assignments.find((a: { key: string }) => a.key === 'tenant-b') ? s.body : null;
    });
    const assignment = snap.assignments.find((a: { key: string }) => a.key === 'tenant-b');
    assert.equal(assignment.pool, 'high-risk');
    assert.equal(assignment.source, 'automation');
    assert.equal(Math.round((Date.parse(assignment.expiresAt) - Date.parse(assignment.assignedAt)) / 3_600_000), 72);
    const audit = await portal.ctx.audit.recent(20);
    assert.ok(audit.some((e) => e.action === 'pool.assign' && e.target === 'tenant:tenant-b' && /5 trusted abuse reports from distinct reporters/.test(e.reason)));
    const caseTicket = await portal.ctx.tickets.get((await portal.ctx.requests.get(fifth))!.ticketId!);
    assert.equal(caseTicket?.kind, 'abuse-case');
    assert.equal((await portal.ctx.tickets.reports(caseTicket!.id)).length, 5);
  });

  it('takes ARF reports by SMTP for the abuse address, and refuses other recipients and foreign mail', async () => {
    const server = createAbuseSmtpServer(portal.ctx);
    await listenSmtp(server, 0, '127.0.0.1');
    const port = (server.server.address() as AddressInfo).port;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
    try {
      const original = messageFromTenant({ tenant: 'tenant-c', messageId: '<arf1@shop.example.com>' });
      const arf = [
        'From: fbl@isp.example.org', 'To: abuse@portal.example.net', 'Subject: FW: Cheap watches', 'Message-ID: <report-1@isp.example.org>', 'Date: Mon, 16 Nov 2026 10:05:00 +0000',
        'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"', '',
        '--b1', 'Content-Type: text/plain', '', 'This is an abuse report.', '',
        '--b1', 'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'User-Agent: ISP-FBL/1.0', 'Version: 1', 'Source-IP: 203.0.113.10', 'Original-Mail-From: <bounces@mailer.example.com>', 'Arrival-Date: Mon, 16 Nov 2026 10:00:01 +0000', '',
        '--b1', 'Content-Type: message/rfc822', '', original, '--b1--', '',
      ].join('\r\n');
      const info = await transport.sendMail({ envelope: { from: 'fbl@isp.example.org', to: ['abuse@portal.example.net'] }, raw: arf });
      const id = /accepted as ([A-Za-z0-9_-]{16})/.exec(info.response)?.[1];
      assert.ok(id, info.response);
      await stateOf(id, ['received']);
      const request_ = await portal.ctx.requests.get(id);
      assert.match(request_!.reason!, /tenant-c/);
      assert.equal(request_?.channel, 'smtp');
      assert.equal(JSON.parse(request_!.parsed!).feedbackType, 'abuse');

      await assert.rejects(transport.sendMail({ envelope: { from: 'x@isp.example.org', to: ['someone@portal.example.net'] }, raw: arf }), /550/);
      await assert.rejects(transport.sendMail({ envelope: { from: 'x@isp.example.org', to: ['abuse@portal.example.net'] }, raw: foreignMessage }), /554[\s\S]*NotOurMail/);
    } finally {
      transport.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('takes a web report through preview and email confirmation, and acknowledges it by mail', async () => {
    const agent = request.agent(portal.app);
    const form = await agent.get('/report').expect(200);
    const sample = Buffer.from(messageFromTenant({ tenant: 'tenant-d', messageId: '<web1@shop.example.com>', subject: '=?UTF-8?B?7Iqk7Yy4?=' }));
    const posted = await agent.post('/report').field('_csrf', csrfOf(form)).field('email', 'reporter@example.org').field('category', 'spam').field('comment', 'got this today').attach('sample', sample, 'spam.eml').expect(303);
    const preview = await agent.get(posted.headers.location!).expect(200);
    for (const shown of ['203.0.113.10', 'tenant-d', 'bounces@mailer.example.com', 'deals@shop.example.com', '&lt;web1@shop.example.com&gt;', '스팸']) assert.ok(preview.text.includes(shown), `preview shows ${shown}`);
    assert.match(preview.text, /class="handoff"/);
    await agent.post(posted.headers.location!).type('form').send({ _csrf: csrfOf(preview) }).expect(303).expect('location', '/report/sent');

    const mail = await portal.smtp.waitFor((m) => m.to.includes('reporter@example.org') && /Confirm your abuse report/.test(m.raw));
    const link = /\/report\/confirm\/[A-Za-z0-9_-]{43}/.exec(decodeQuotedPrintable(mail.raw))![0];
    const confirm = await agent.get(link).expect(200);
    const done = await agent.post(link).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    const id = done.headers.location!.split('/').pop()!;
    await stateOf(id, ['received']);
    const ack = await portal.smtp.waitFor((m) => m.to.includes('reporter@example.org') && /We received your abuse report/.test(m.raw));
    // The acknowledgement says what happened in public words: no case id, no other report's id (issue 13).
    const ackText = decodeQuotedPrintable(ack.raw);
    assert.match(ackText, /added to the sender's abuse case as\s+evidence/);
    const ticketId = (await portal.ctx.requests.get(id))!.ticketId!;
    assert.ok(ticketId && !ackText.includes(ticketId), 'the case id stays with staff');
  });

  it('answers a pasted foreign message with a 422 page that explains, and an unreadable one with 400', async () => {
    const agent = request.agent(portal.app);
    const form = await agent.get('/report');
    const before = await stored();
    const foreign = await agent.post('/report').field('_csrf', csrfOf(form)).field('email', 'r@example.org').field('category', 'spam').field('raw', foreignMessage);
    assert.equal(foreign.status, 422);
    assert.match(foreign.text, /did not leave through our service/);
    const junk = await agent.post('/report').field('_csrf', csrfOf(form)).field('email', 'r@example.org').field('category', 'spam').field('raw', '<script>alert(1)</script>');
    assert.equal(junk.status, 400);
    assert.doesNotMatch(junk.text, /<script>alert/);
    const noCsrf = await request(portal.app).post('/report').field('email', 'r@example.org').field('category', 'spam').field('raw', 'x');
    assert.equal(noCsrf.status, 403);
    assert.equal(await stored(), before);
  });
});
