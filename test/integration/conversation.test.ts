import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import nodemailer from 'nodemailer';
import PostalMime from 'postal-mime';
import type { SMTPServer } from 'smtp-server';
import request from 'supertest';
import { addListing } from '../../src/features/blocklist/service.js';
import { readReplyAddress, replyAddressFor, trimQuotedHistory } from '../../src/domain/reply-address.js';
import { closeParsePool } from '../../src/parse/pool.js';
import { createAbuseSmtpServer, closeSmtp, listenSmtp } from '../../src/smtp/intake.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { eventually, startPortal } from '../helpers/portal.js';
import type { ReceivedMail } from '../helpers/smtp.js';
import { signedIn } from '../helpers/staff.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;

const OPERATOR = 'Contoso Mail Hosting';

/** A mail as its reader's client sees it: headers, text and HTML parts (postal-mime). */
const parsed = (mail: ReceivedMail) => PostalMime.parse(mail.raw);

describe('reply addresses (unit)', () => {
  const a = { secret: 'a-secret-of-at-least-32-characters-here', domain: 'reply.portal.example' };
  it('round-trips a ticket id and refuses a changed code, another ticket or another domain', () => {
    const address = replyAddressFor(a, 'c-AbCdEfGhIjKlMnOp')!;
    assert.match(address, /^ticket\+c-AbCdEfGhIjKlMnOp\.[0-9a-f]{20}@reply\.portal\.example$/);
    assert.ok(address.split('@')[0]!.length <= 64);
    assert.deepEqual(readReplyAddress(a, address), { kind: 'ticket', ticketId: 'c-AbCdEfGhIjKlMnOp' });
    assert.deepEqual(readReplyAddress(a, address.toUpperCase().replace('C-ABCDEFGHIJKLMNOP', 'c-AbCdEfGhIjKlMnOp')), { kind: 'ticket', ticketId: 'c-AbCdEfGhIjKlMnOp' });
    const code = address.slice(address.indexOf('.') + 1, address.indexOf('@'));
    assert.deepEqual(readReplyAddress(a, address.replace(code, code.replace(/^./, (c) => (c === '0' ? '1' : '0')))), { kind: 'forged' });
    assert.deepEqual(readReplyAddress(a, address.replace('c-AbCd', 'c-XbCd')), { kind: 'forged' });
    assert.deepEqual(readReplyAddress(a, 'ticket+nonsense@reply.portal.example'), { kind: 'forged' });
    assert.deepEqual(readReplyAddress(a, address.replace('reply.portal.example', 'elsewhere.example')), { kind: 'none' });
    assert.deepEqual(readReplyAddress(a, 'abuse@reply.portal.example'), { kind: 'none' });
    assert.deepEqual(readReplyAddress({ ...a, secret: 'another-secret-of-at-least-32-characters' }, address), { kind: 'forged' });
    assert.equal(replyAddressFor(a, 'x'.repeat(60)), null);
  });

  it('cuts the quoted history of common mail clients', () => {
    assert.equal(trimQuotedHistory('Here it is.\n\nOn Fri, 4 Dec 2026 at 10:00, Portal <p@x> wrote:\n> old'), 'Here it is.');
    assert.equal(trimQuotedHistory('Here it is.\r\n> old\r\n> older'), 'Here it is.');
    assert.equal(trimQuotedHistory('Here it is.\n\n-----Original Message-----\nFrom: x'), 'Here it is.');
    assert.equal(trimQuotedHistory('> only a quote'), '> only a quote');
  });
});

describe('a conversation, not a dead end (web, worker, SMTP out and the SMTP intake in)', () => {
  let portal: Portal;
  let intake: SMTPServer;
  let intakePort: number;
  let triager: Awaited<ReturnType<typeof signedIn>>;
  let apiToken: string;
  before(async () => {
    portal = await startPortal();
    portal.ctx.config.operator = { ...portal.ctx.config.operator, name: OPERATOR };
    intake = createAbuseSmtpServer(portal.ctx);
    await listenSmtp(intake, 0, '127.0.0.1');
    intakePort = (intake.server.address() as AddressInfo).port;
    triager = await signedIn(portal.ctx, portal.app, 'tri@example.net', 'triager');
    apiToken = await portal.ctx.apiTokens.create('fbl');
  });
  after(async () => {
    await closeSmtp(intake);
    await closeParsePool();
    await portal.stop();
  });

  /** Each message from a client of its own (TRUST_PROXY loopback: the forwarded address counts), so the per-client limit stays out of the way. */
  let clients = 0;
  const nextClient = () => `203.0.113.${++clients}`;
  const act = (id: string, fields: Record<string, string>) => triager.agent.post(`/staff/tickets/${id}/action`).type('form').send({ _csrf: triager.csrf, ...fields });

  /** A message to our staff through the contact form, in `lang`: the request id (from the sent page's status link). */
  async function contact(email: string, message: string, lang = 'ko'): Promise<string> {
    const agent = request.agent(portal.app);
    const form = await agent.get('/contact').set('Accept-Language', lang).expect(200);
    const sent = await agent.post('/contact').set('Accept-Language', lang).set('X-Forwarded-For', nextClient()).type('form').send({ _csrf: csrfOf(form), email, name: 'Min-jun', message }).expect(303);
    assert.match(sent.headers.location!, /^\/contact\/sent\/[A-Za-z0-9_-]{16}$/);
    const page = await agent.get(sent.headers.location!).set('Accept-Language', lang).expect(200);
    const id = sent.headers.location!.split('/').pop()!;
    assert.ok(page.text.includes(`href="/status/${id}"`), 'the sent page links the status page');
    return id;
  }

  /** Sends a mail to the intake as a requester's mail client would (nodemailer → smtp-server). */
  async function answer(to: string, text: string, from = 'minjun@example.org'): Promise<{ ok: true; response: string } | { ok: false; code: number; response: string }> {
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: intakePort, secure: false, ignoreTLS: true });
    try {
      const info = await transport.sendMail({ from, to, subject: 'Re: 지원팀이 추가 정보가 필요해요', text });
      return { ok: true, response: info.response };
    } catch (err) {
      const e = err as { responseCode?: number; response?: string };
      return { ok: false, code: e.responseCode ?? 0, response: e.response ?? String(err) };
    } finally {
      transport.close();
    }
  }

  it('links the contact form from every public page, in the visitor\'s language', async () => {
    for (const [path, status] of [['/', 200], ['/delist', 200], ['/lookup', 200], ['/report', 200], ['/unblock', 200], ['/bounce', 200], ['/pools/explain', 200], ['/contact', 200], ['/no-such-page', 404], ['/status/not-a-request', 404]] as const) {
      const page = await request(portal.app).get(path).set('Accept-Language', 'zh-TW').expect(status);
      assert.match(page.text, /<a href="\/contact">聯絡支援團隊<\/a>/, path);
    }
    const staffLogin = await request(portal.app).get('/staff/login').expect(200);
    assert.doesNotMatch(staffLogin.text, /href="\/contact"/, 'staff pages keep their own footer');
  });

  it('refuses a bad form with a 400 in the visitor\'s language, the message kept, and counts it against no limit', async () => {
    const agent = request.agent(portal.app);
    const form = await agent.get('/contact').set('Accept-Language', 'ko').expect(200);
    const long = '가'.repeat(1200);
    for (let i = 0; i < 12; i++) {
      const res = await agent.post('/contact').set('Accept-Language', 'ko').type('form').send({ _csrf: csrfOf(form), email: 'not-an-address', message: long }).expect(400);
      if (i === 0) {
        assert.match(res.text, /올바른 이메일 주소를 입력해 주세요/);
        assert.ok(res.text.includes(long), 'the message is given back whole');
      }
    }
    const short = await agent.post('/contact').set('Accept-Language', 'ko').type('form').send({ _csrf: csrfOf(form), email: 'a@example.org', message: 'hi' }).expect(400);
    assert.match(short.text, /문의 내용을 10자 이상 써 주세요/);
    const tooLong = await agent.post('/contact').type('form').send({ _csrf: csrfOf(form), email: 'a@example.org', message: 'x'.repeat(5001) }).expect(400);
    assert.match(tooLong.text, /at most 5000 characters/);
    // No CSRF token: refused before anything is stored.
    await request(portal.app).post('/contact').type('form').send({ email: 'a@example.org', message: 'a message without a token' }).expect(403);
    assert.equal((await portal.ctx.tickets.counts()).contact, 0);
    // 14 refused forms from this client, over its limit of 10: a valid one still goes through.
    assert.ok(portal.ctx.policy.rateLimits.contactPerClientIp.max < 14);
    await agent.post('/contact').type('form').send({ _csrf: csrfOf(form), email: 'typos@example.org', message: 'Finally typed it right.' }).expect(303);
  });

  it('limits messages per address (429 with the form kept, the wait in minutes)', async () => {
    const agent = request.agent(portal.app);
    const form = await agent.get('/contact').expect(200);
    const max = portal.ctx.policy.rateLimits.contactPerEmail.max;
    for (let i = 0; i < max; i++) await agent.post('/contact').set('X-Forwarded-For', nextClient()).type('form').send({ _csrf: csrfOf(form), email: 'Flood@Example.org', message: `message number ${i} to the staff` }).expect(303);
    const res = await agent.post('/contact').set('X-Forwarded-For', nextClient()).type('form').send({ _csrf: csrfOf(form), email: 'flood@example.org', message: 'one message too many' }).expect(429);
    assert.ok(res.headers['retry-after']);
    assert.match(res.text, /one message too many/);
    assert.match(res.text, /minute/);
  });

  it('opens a contact ticket; the staff reply carries a per-ticket Reply-To, both parts and the operator; the answer by mail comes back into the ticket', async () => {
    const id = await contact('minjun@example.org', '반송 메일이 계속 와요. 도와주세요.');
    const req = await portal.ctx.requests.get(id);
    assert.equal(req?.type, 'contact');
    assert.equal(req?.lang, 'ko');
    const ticketId = req!.ticketId!;
    const ticket = await portal.ctx.tickets.get(ticketId);
    assert.equal(ticket?.kind, 'contact');
    assert.equal(ticket?.state, 'open');
    const status = await request(portal.app).get(`/status/${id}`).set('Accept-Language', 'ko').expect(200);
    assert.match(status.text, /지원팀에 보낸 문의/);
    assert.match(status.text, /문의를 받았어요/);
    const queue = await triager.agent.get('/staff?kind=contact').expect(200);
    assert.ok(queue.text.includes(`/staff/tickets/${ticketId}`));

    await triager.agent.post(`/staff/tickets/${ticketId}/reply`).type('form').send({ _csrf: triager.csrf, template: 'need-info', reply: 'Which IP address does the bounce name?' }).expect(303);
    const mail = await portal.smtp.waitFor((m) => m.to.includes('minjun@example.org'));
    const m = await parsed(mail);
    const replyTo = m.replyTo?.[0]?.address;
    assert.equal(replyTo, replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, ticketId));
    assert.match(m.subject ?? '', /추가 정보/);
    assert.ok(m.text?.includes(OPERATOR) && m.html?.includes(OPERATOR), 'text and HTML name the operator');
    assert.match(m.html ?? '', /<html lang="ko">/);
    assert.match(m.html ?? '', /max-width: 600px/);

    // The requester answers from their mail client: only the new text lands on the ticket.
    const sent = await answer(replyTo!, 'The bounce names 198.51.100.77.\n\nOn Fri, 4 Dec 2026 at 10:00, Postmaster Portal <postmaster@portal.example.net> wrote:\n> Which IP address does the bounce name?\n> quoted-history-marker');
    assert.ok(sent.ok, JSON.stringify(sent));
    assert.match(sent.response, new RegExp(`250 2\\.0\\.0 Answer filed in ticket ${ticketId}`));
    const events = await portal.ctx.tickets.events(ticketId);
    const last = events[events.length - 1]!;
    assert.equal(last.type, 'requester');
    assert.equal(last.actor, 'minjun@example.org');
    assert.match(last.message, /The bounce names 198\.51\.100\.77\./);
    assert.doesNotMatch(last.message, /quoted-history-marker/);
    const page = await triager.agent.get(`/staff/tickets/${ticketId}`).expect(200);
    assert.match(page.text, /\(from the requester\)/);
    assert.match(page.text, /the requester wrote last/);
    assert.ok(page.text.includes('The bounce names 198.51.100.77.'));
  });

  it('refuses forged and unknown reply addresses with 550, and keeps one ticket per message', async () => {
    const id = await contact('forger-victim@example.org', 'A message that opens a ticket.', 'en');
    const ticketId = (await portal.ctx.requests.get(id))!.ticketId!;
    const good = replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, ticketId)!;
    const forged = good.replace(/\.[0-9a-f]{20}@/, '.0123456789abcdef0123@');
    const wrongSecret = replyAddressFor({ secret: 'not-the-portal-secret-but-32-characters', domain: 'portal.test' }, ticketId)!;
    const unknown = replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, 'c-NoSuchTicket0000')!;
    for (const to of [forged, wrongSecret, unknown, 'ticket+garbage@portal.test']) {
      const res = await answer(to, 'Trying to write into someone else\'s ticket.');
      assert.equal(res.ok, false, to);
      assert.equal((res as { code: number }).code, 550, `${to}: ${res.response}`);
    }
    const other = await contact('other@example.org', 'Another message to the staff.', 'en');
    const otherAddress = replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, (await portal.ctx.requests.get(other))!.ticketId!)!;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: intakePort, secure: false, ignoreTLS: true });
    try {
      // Two tickets (or a ticket and the report intake) in one message: the second recipient is deferred.
      const info = await transport.sendMail({ from: 'x@example.org', to: [good, otherAddress], subject: 'both', text: 'One message to two tickets.' });
      assert.deepEqual(info.rejected, [otherAddress]);
    } finally {
      transport.close();
    }
    const events = await portal.ctx.tickets.events(ticketId);
    assert.equal(events.filter((e) => e.type === 'requester' && /someone else/.test(e.message)).length, 0);
    assert.equal(events.filter((e) => e.type === 'requester' && /One message to two tickets/.test(e.message)).length, 1);
    assert.equal((await portal.ctx.tickets.events((await portal.ctx.requests.get(other))!.ticketId!)).filter((e) => /two tickets/.test(e.message)).length, 0);
  });

  it('keeps an automatic reply on the timeline without reopening the ticket', async () => {
    const id = await contact('away@example.org', 'A question before my holiday.', 'en');
    const ticketId = (await portal.ctx.requests.get(id))!.ticketId!;
    await act(ticketId, { action: 'close', reason: 'Answered by phone.' }).expect(303);
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: intakePort, secure: false, ignoreTLS: true });
    try {
      const to = replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, ticketId)!;
      await transport.sendMail({ from: 'away@example.org', to, subject: 'Out of office', text: 'I am away until Monday.', headers: { 'Auto-Submitted': 'auto-replied' } });
    } finally {
      transport.close();
    }
    assert.equal((await portal.ctx.tickets.get(ticketId))?.state, 'closed');
    assert.equal((await portal.ctx.requests.get(id))?.state, 'closed');
    const last = (await portal.ctx.tickets.events(ticketId)).at(-1)!;
    assert.equal(last.type, 'requester');
    assert.match(last.message, /^\[automatic reply\][\s\S]*I am away until Monday\./);
  });

  it('closing without action tells the requester why (status page and mail, in their language); an answer reopens the ticket', async () => {
    const id = await contact('closer@example.org', '질문이 있어요. 답변 부탁드려요.');
    const ticketId = (await portal.ctx.requests.get(id))!.ticketId!;
    await act(ticketId, { action: 'close', reason: 'x' }).expect(400); // a reason is required
    await act(ticketId, { action: 'close', reason: 'Answered on the phone with the customer.' }).expect(303);
    const req = await portal.ctx.requests.get(id);
    assert.equal(req?.state, 'closed');
    const status = await request(portal.app).get(`/status/${id}`).set('Accept-Language', 'ko').expect(200);
    assert.ok(status.text.includes('Answered on the phone with the customer.'), 'the reason is on the status page');
    assert.doesNotMatch(status.text, /이메일로 답변해 드려요\.<\/p>/, 'no promise of a mail after closure');
    assert.match(status.text, /href="\/contact\?request=/);
    const mail = await portal.smtp.waitFor((m) => m.to.includes('closer@example.org'));
    const m = await parsed(mail);
    assert.match(m.subject ?? '', /^문의 결과: 닫힘|^문의 결과: /);
    assert.ok(m.text?.includes('Answered on the phone with the customer.'));
    assert.ok(m.html?.includes('Answered on the phone with the customer.'));
    assert.ok(m.replyTo?.[0]?.address?.startsWith(`ticket+${ticketId}.`));

    const res = await answer(m.replyTo![0]!.address!, 'I still have a question.', 'closer@example.org');
    assert.ok(res.ok, res.response);
    const ticket = await portal.ctx.tickets.get(ticketId);
    assert.equal(ticket?.state, 'open', 'the answer reopens the ticket');
    assert.ok(Date.parse(ticket!.slaDueAt) > Date.now());
    assert.equal((await portal.ctx.requests.get(id))?.state, 'needs_review', 'the request waits for staff again');
    const again = await request(portal.app).get(`/status/${id}`).set('Accept-Language', 'ko').expect(200);
    assert.match(again.text, /지원팀 검토 필요/);
  });

  it('bulk close tells every waiting requester (a delist review leaves "needs review" for closed, with the reason)', async () => {
    await addListing(portal.ctx, { target: '198.51.100.170', category: 'botnet', source: 'test', by: 'test' });
    const agent = request.agent(portal.app);
    const form = await agent.get('/delist').set('Accept-Language', 'zh-TW');
    await agent.post('/delist').set('Accept-Language', 'zh-TW').type('form').send({ _csrf: csrfOf(form), email: 'bulk@example.org', ip: '198.51.100.170' }).expect(303);
    const challenge = await portal.smtp.waitFor((m) => m.to.includes('bulk@example.org'));
    const link = /\/delist\/confirm\/[A-Za-z0-9_-]{43}/.exec((await parsed(challenge)).text ?? '')![0];
    const confirm = await agent.get(link);
    const done = await agent.post(link).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    const requestId = done.headers.location!.split('/').pop()!;
    const waiting = await eventually(async () => {
      const r = await portal.ctx.requests.get(requestId);
      return r?.state === 'needs_review' ? r : null;
    });
    // The review's result mail already carries the ticket's reply address.
    const review = await parsed(await portal.smtp.waitFor((m) => m.to.includes('bulk@example.org') && /^Reply-To:/im.test(m.raw), 5000));
    assert.match(review.subject ?? '', /198\.51\.100\.170/);
    assert.ok(review.replyTo?.[0]?.address?.startsWith(`ticket+${waiting.ticketId}.`));
    await triager.agent.post('/staff/bulk').type('form').send({ _csrf: triager.csrf, ids: waiting.ticketId!, reason: 'The listing expired meanwhile.' }).expect(303);
    assert.equal((await portal.ctx.requests.get(requestId))?.state, 'closed');
    const mail = await portal.smtp.waitFor((m) => m.to.includes('bulk@example.org') && /listing expired/.test(m.raw.replace(/=\r?\n/g, '')));
    const m = await parsed(mail);
    assert.match(m.subject ?? '', /您的解除封鎖申請/);
    assert.ok(m.text?.includes('The listing expired meanwhile.'));
    const status = await request(portal.app).get(`/status/${requestId}`).set('Accept-Language', 'zh-TW').expect(200);
    assert.ok(status.text.includes('The listing expired meanwhile.'));
  });

  it('shows reporters the outcome of their case in their language, without naming the customer', async () => {
    const post = (tenant: string, mid: string) => request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${apiToken}`).set('Content-Type', 'message/rfc822').send(messageFromTenant({ tenant, messageId: mid })).expect(202);
    const acted = (await post('tenant-acted', '<acted1@x.example>')).body.id as string;
    const dismissed = (await post('tenant-dismissed', '<dismissed1@x.example>')).body.id as string;
    const ticketOf = (rid: string) => eventually(async () => (await portal.ctx.requests.get(rid))?.ticketId);
    await act(await ticketOf(acted), { action: 'confirm-abuse', hours: '24' }).expect(303);
    await act(await ticketOf(dismissed), { action: 'dismiss-abuse', reason: 'Newsletter the recipient signed up for.' }).expect(303);
    const ko = await request(portal.app).get(`/status/${acted}`).set('Accept-Language', 'ko').expect(200);
    assert.match(ko.text, /신고하신 악용을 확인하고 발신자에게 조치했어요/);
    assert.doesNotMatch(ko.text, /tenant-acted/);
    const zh = await request(portal.app).get(`/status/${dismissed}`).set('Accept-Language', 'zh-TW').expect(200);
    assert.match(zh.text, /未發現我們客戶有可採取行動的濫用行為/);
    assert.doesNotMatch(zh.text, /tenant-dismissed|Newsletter the recipient/);
    assert.equal((await portal.ctx.requests.get(dismissed))?.state, 'closed');
  });

  it('after a merge, the moved reports belong to the case they joined: their mails and answers go there', async () => {
    const post = (tenant: string, mid: string) => request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${apiToken}`).set('Content-Type', 'message/rfc822').send(messageFromTenant({ tenant, messageId: mid })).expect(202);
    const a = (await post('merge-a', '<ma1@x.example>')).body.id as string;
    const b = (await post('merge-b', '<mb1@x.example>')).body.id as string;
    const ticketOf = (rid: string) => eventually(async () => (await portal.ctx.requests.get(rid))?.ticketId);
    const [ta, tb] = [await ticketOf(a), await ticketOf(b)];
    await act(ta, { action: 'merge', duplicate: tb }).expect(303);
    assert.equal((await portal.ctx.requests.get(b))?.ticketId, ta);
    // An answer to the merged case's old reply address lands on the case it joined (still open: not reopened twice).
    const res = await answer(replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, tb)!, 'More samples are on the way.', 'fbl@isp.example');
    assert.ok(res.ok, res.response);
    assert.match(res.response, new RegExp(`ticket ${ta}`));
    const events = await portal.ctx.tickets.events(ta);
    assert.ok(events.some((e) => e.type === 'requester' && /More samples/.test(e.message) && /not an address of this ticket/.test(e.actor)));
    assert.equal((await portal.ctx.tickets.get(tb))?.state, 'closed');
  });

  it('reads an HTML-only answer as text, and refuses one over the size limit (552) without filing it', async () => {
    const id = await contact('html@example.org', 'A message that opens a ticket.', 'en');
    const ticketId = (await portal.ctx.requests.get(id))!.ticketId!;
    const to = replyAddressFor({ secret: portal.ctx.config.secret, domain: 'portal.test' }, ticketId)!;
    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: intakePort, secure: false, ignoreTLS: true });
    try {
      await transport.sendMail({ from: 'html@example.org', to, subject: 'Re: update', html: '<div>Our <b>IP</b> is 198.51.100.9&nbsp;now.</div><script>alert(1)</script><blockquote>old</blockquote>' });
      const big = 'x'.repeat(portal.ctx.policy.samples.maxBytes + 10);
      await assert.rejects(transport.sendMail({ from: 'html@example.org', to, subject: 'big', text: big }), (err: { responseCode?: number }) => err.responseCode === 552);
    } finally {
      transport.close();
    }
    const answers = (await portal.ctx.tickets.events(ticketId)).filter((e) => e.type === 'requester' && e.actor === 'html@example.org');
    assert.equal(answers.length, 2, 'the form message and the HTML answer, not the oversized one');
    assert.match(answers[1]!.message, /Our IP is 198\.51\.100\.9 now\./);
    assert.doesNotMatch(answers[1]!.message, /<|alert/);
  });

  it('links a message to the request its status page came from, and ignores a request parameter that is no request id', async () => {
    const first = await contact('about@example.org', 'The first message to the staff.', 'en');
    const hostile = await request(portal.app).get('/contact').query({ request: '"><script>alert(1)</script>' }).expect(200);
    assert.doesNotMatch(hostile.text, /name="request"|<script>alert/);
    const agent = request.agent(portal.app);
    const form = await agent.get('/contact').query({ request: first }).expect(200);
    assert.ok(form.text.includes(`<input type="hidden" name="request" value="${first}">`));
    const sent = await agent.post('/contact').set('X-Forwarded-For', nextClient()).type('form').send({ _csrf: csrfOf(form), email: 'about@example.org', message: 'A follow-up about my first message.', request: first }).expect(303);
    const second = sent.headers.location!.split('/').pop()!;
    const ticket = await portal.ctx.tickets.get((await portal.ctx.requests.get(second))!.ticketId!);
    assert.match(ticket!.reason, new RegExp(`about contact request ${first}`));
    const bad = await agent.post('/contact').type('form').send({ _csrf: csrfOf(form), email: 'nope', message: 'x', request: '<b>not-an-id</b>' }).expect(400);
    assert.doesNotMatch(bad.text, /not-an-id/);
  });
});
