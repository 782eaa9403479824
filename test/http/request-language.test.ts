import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import PostalMime from 'postal-mime';
import request from 'supertest';
import { addListing } from '../../src/features/blocklist/service.js';
import { assignPool } from '../../src/features/pools/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { translator } from '../../src/i18n/index.js';
import { englishRuns } from '../helpers/english.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { eventually, startPortal } from '../helpers/portal.js';
import { signedIn } from '../helpers/staff.js';

/**
 * Issue 16, "the request's language rules everything about the request": its mailed links carry it, its confirm and
 * status pages and every mail about it use it (a visitor's own choice still wins), and what the system or staff say
 * about it (decisions, refusals, approvals, replies, timeline steps, the pool explainer) is a message key said in the
 * reader's language. Real worker, real SMTP; every ko and zh-TW page and mail below is checked for English sentences.
 */
type Portal = Awaited<ReturnType<typeof startPortal>>;
type Lang = 'en' | 'ko' | 'zh-TW';
const t = { en: translator('en'), ko: translator('ko'), 'zh-TW': translator('zh-TW') };
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
const ISO = /\d{4}-\d\d-\d\dT\d\d:\d\d/;
/** Korean or Chinese left on an English page, outside the language switcher (which names each language in itself). */
const cjkOn = (html: string) => html.replace(/<nav class="languages"[\s\S]*?<\/nav>/, '').match(/[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u9fff\uac00-\ud7af\uff00-\uffef][^<]*/g) ?? [];

describe('issue 16: the request\'s language rules its pages and mails, after staff act too', () => {
  let portal: Portal;
  let staff: Awaited<ReturnType<typeof signedIn>>;
  /** Every ko/zh-TW page and mail seen, for the English check at the end. */
  const seen: Array<{ where: string; text: string }> = [];
  const keep = (where: string, text: string) => (seen.push({ where, text }), text);

  before(async () => {
    portal = await startPortal();
    staff = await signedIn(portal.ctx, portal.app, 'desk@portal.example.net', 'admin');
  });
  after(() => portal.stop());

  /** The mails to `to` so far, parsed (subject, text, html), oldest first; waits until there are `count`. */
  async function mailsTo(to: string, count: number) {
    await portal.smtp.waitFor(() => portal.smtp.mails.filter((m) => m.to.includes(to)).length >= count);
    return Promise.all(portal.smtp.mails.filter((m) => m.to.includes(to)).map(async (m) => {
      const p = await PostalMime.parse(m.raw);
      // The text part is wrapped at 72 columns: compared with its white space as single spaces.
      return { subject: p.subject ?? '', text: (p.text ?? '').replace(/\s+/g, ' '), html: p.html ?? '' };
    }));
  }
  const keepMail = (where: string, mail: { subject: string; text: string; html: string }) => {
    keep(`${where} (subject)`, mail.subject);
    keep(`${where} (text)`, mail.text);
    keep(`${where} (html)`, mail.html);
    return mail;
  };
  /** A page as another device opens it: a browser asking for English, no language cookie. */
  const openElsewhere = (path: string) => request(portal.app).get(path).set('Accept-Language', 'en-US,en;q=0.9');
  const act = (ticketId: string, fields: Record<string, string>) => staff.agent.post(`/staff/tickets/${ticketId}/action`).type('form').send({ _csrf: staff.csrf, ...fields }).expect(303);
  const stateOf = (id: string, state: string) => eventually(async () => ((await portal.ctx.requests.get(id))?.state === state ? portal.ctx.requests.get(id) : null));

  /** A delist request made in `lang` for a botnet listing (staff review), confirmed from its mailed link on another device. */
  async function delistForReview(lang: Lang, ip: string, email: string) {
    await addListing(portal.ctx, { target: ip, category: 'botnet', source: 'test', by: 'test' });
    const agent = request.agent(portal.app);
    const form = await agent.get('/delist').set('Accept-Language', lang);
    await agent.post('/delist').set('Accept-Language', lang).type('form').send({ _csrf: csrfOf(form), email, ip }).expect(303);
    const [challenge] = await mailsTo(email, 1);
    const link = new RegExp(`${portal.ctx.config.publicUrl}(/delist/confirm/[A-Za-z0-9_-]{43})\\?lang=${lang}\\b`).exec(challenge!.text);
    assert.ok(link, `the challenge mail's link carries ?lang=${lang}: ${challenge!.text}`);
    // Before it is used: the link as mailed, opened by a browser that asks for English (no cookie), and by a visitor
    // who chose English with the switcher (its cookie).
    const english = (await openElsewhere(link[1]!).expect(200)).text;
    const chosen = (await request(portal.app).get(link[1]!).set('Cookie', 'pm_lang=en').set('Accept-Language', lang).expect(200)).text;
    const elsewhere = request.agent(portal.app);
    const confirm = await elsewhere.get(`${link[1]}?lang=${lang}`).set('Accept-Language', 'en').expect(200);
    const done = await elsewhere.post(link[1]!).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    const requestId = done.headers.location!.split('/').pop()!;
    const request_ = (await stateOf(requestId, 'needs_review'))!;
    return { requestId, ticketId: request_.ticketId!, challenge: challenge!, confirm: confirm.text, english, chosen };
  }

  it('a Korean delist request: its link opened in an English browser is Korean, its category in words; the visitor\'s choice still wins', async () => {
    const { requestId, challenge, confirm, english, chosen } = await delistForReview('ko', '198.51.100.161', 'ko-owner@example.org');
    keepMail('ko delist-challenge', challenge);
    assert.match(keep('ko confirm (via ?lang=ko)', confirm), /<html lang="ko">/);
    // The link as mailed, opened by a browser that asks for English (no cookie): the request's language.
    const page = keep('ko confirm (English browser)', english);
    assert.match(page, /<html lang="ko">/);
    assert.ok(page.includes(escapeHtml(t.ko('delist.confirm.category', { category: t.ko('categoryName.botnet') }))), 'the category in words');
    assert.doesNotMatch(page, /\bbotnet\b/);
    // A visitor who chose English with the switcher (its cookie) reads English.
    assert.match(chosen, /<html lang="en">/);

    const status = keep('ko status needs_review', (await openElsewhere(`/status/${requestId}`).expect(200)).text);
    assert.match(status, /<html lang="ko">/);
    assert.ok(status.includes(escapeHtml(t.ko('reason.staff-only-category', { category: t.ko('categoryName.botnet') }))), status);
    const json = await openElsewhere(`/status/${requestId}.json`).expect(200);
    assert.equal(json.body.label, t.ko('state.needs_review.label'), 'the JSON the script follows, too');

    const [, result] = await mailsTo('ko-owner@example.org', 2);
    keepMail('ko delist-result needs_review', result!);
    assert.ok(result!.text.includes(t.ko('reason.staff-only-category', { category: t.ko('categoryName.botnet') })), result!.text);
    assert.ok(result!.text.includes(`/status/${requestId}?lang=ko`), 'the status link carries the language');
  });

  it('staff refuse it with one of our texts: the status page keeps the earlier Korean step Korean, the refusal and its mail are Korean', async () => {
    const { requestId, ticketId } = await delistForReview('ko', '198.51.100.162', 'ko-refused@example.org');
    const ticket = await staff.agent.get(`/staff/tickets/${ticketId}`).expect(200);
    assert.match(ticket.text, /id="requester-language">한국어 \(ko\)/, 'the ticket shows the requester\'s language');
    assert.match(ticket.text, /<option value="still-sending">We still see unwanted mail/, 'staff pick our texts in English');

    await act(ticketId, { action: 'refuse-delist', canned: 'still-sending', reason: '' });
    const refusal = t.ko('reason.staff-refused', { note: t.ko('staffText.template.still-sending') });
    const status = keep('ko status refused', (await openElsewhere(`/status/${requestId}`).expect(200)).text);
    assert.match(status, /<html lang="ko">/);
    assert.ok(status.includes(escapeHtml(refusal)), 'the refusal in Korean');
    assert.ok(status.includes(escapeHtml(t.ko('reason.staff-only-category', { category: t.ko('categoryName.botnet') }))), 'the earlier step stays Korean');
    assert.doesNotMatch(status, /Listings of the category|Our support staff/);
    assert.doesNotMatch(status.replace(/datetime="[^"]*"/g, ''), ISO, 'no raw ISO time');
    // The same page in English, when the visitor asks for it: our English sentences.
    const en = (await request(portal.app).get(`/status/${requestId}?lang=en`).expect(200)).text;
    assert.ok(en.includes(escapeHtml(t.en('reason.staff-refused', { note: t.en('staffText.template.still-sending') }))));
    assert.deepEqual(cjkOn(en), [], 'no Korean left on the English page, the earlier step included');

    const mails = await mailsTo('ko-refused@example.org', 3);
    const result = keepMail('ko delist-result refused', mails[2]!);
    assert.ok(result.text.includes(refusal), result.text);

    // A reply with one of our texts and the staff member's own (Korean) words: the mail says ours in Korean.
    await staff.agent.post(`/staff/tickets/${ticketId}/reply`).type('form').send({ _csrf: staff.csrf, template: 'need-info', canned: 'need-bounce', reply: '감사합니다.' }).expect(303);
    const reply = keepMail('ko staff-reply', (await mailsTo('ko-refused@example.org', 4))[3]!);
    assert.ok(reply.text.includes(`${t.ko('staffText.template.need-bounce')} 감사합니다.`), reply.text);
    assert.ok(reply.text.includes(`/status/${requestId}?lang=ko`));
    const timeline = (await staff.agent.get(`/staff/tickets/${ticketId}`).expect(200)).text;
    assert.ok(timeline.includes(escapeHtml(t.en('staffText.template.need-bounce'))), 'the staff timeline keeps the English text');
  });

  it('staff approve a Traditional Chinese request: page and mail in zh-TW, the earlier step unchanged', async () => {
    const { requestId, ticketId } = await delistForReview('zh-TW', '198.51.100.163', 'zh-approved@example.org');
    await act(ticketId, { action: 'approve-delist' });
    const status = keep('zh-TW status delisted', (await openElsewhere(`/status/${requestId}`).expect(200)).text);
    assert.match(status, /<html lang="zh-TW">/);
    assert.ok(status.includes(escapeHtml(t['zh-TW']('reason.staff-delisted'))));
    assert.ok(status.includes(escapeHtml(t['zh-TW']('reason.staff-only-category', { category: t['zh-TW']('categoryName.botnet') }))));
    const result = keepMail('zh-TW delist-result delisted', (await mailsTo('zh-approved@example.org', 3))[2]!);
    assert.ok(result.text.includes(t['zh-TW']('reason.staff-delisted')), result.text);
  });

  it('a tenant unblock in Korean: approval on the page and in the mail is Korean; a zh-TW refusal with our text and own words is Chinese', async () => {
    const days = portal.ctx.policy.unblock.probationDays;
    for (const [lang, tenant, email, action] of [['ko', 'contoso', 'admin@contoso.example', 'approve-unblock'], ['zh-TW', 'fabrikam', 'admin@fabrikam.example', 'refuse-unblock']] as const) {
      await restrictTenant(portal.ctx, tenant, 'relayed spam from unregistered domains', 'test');
      const agent = request.agent(portal.app);
      const form = await agent.get('/unblock').set('Accept-Language', lang);
      await agent
        .post('/unblock')
        .set('Accept-Language', lang)
        .type('form')
        .send({ _csrf: csrfOf(form), tenant, email, domainsRegistered: 'on', connectorsReviewed: 'on', serversLockedDown: 'on', evidence: 'We removed the open connector and rotated every credential.' })
        .expect(303);
      const [challenge] = await mailsTo(email, 1);
      keepMail(`${lang} unblock-challenge`, challenge!);
      const link = new RegExp(`(/unblock/confirm/[A-Za-z0-9_-]{43})\\?lang=${lang}\\b`).exec(challenge!.text);
      assert.ok(link, challenge!.text);
      const elsewhere = request.agent(portal.app);
      const confirm = await elsewhere.get(link[0]).set('Accept-Language', 'en').expect(200);
      assert.match(keep(`${lang} unblock confirm`, confirm.text), new RegExp(`<html lang="${lang}">`));
      const done = await elsewhere.post(link[1]!).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
      const requestId = done.headers.location!.split('/').pop()!;
      const ticketId = (await portal.ctx.requests.get(requestId))!.ticketId!;
      await act(ticketId, action === 'approve-unblock' ? { action } : { action, canned: 'evidence-missing', reason: '連接器仍然開放。' });

      const expected =
        action === 'approve-unblock' ? t[lang]('reason.unblock-approved', { tenant, days }) : t[lang]('reason.unblock-refused', { note: `${t[lang]('staffText.template.evidence-missing')} 連接器仍然開放。` });
      const status = keep(`${lang} unblock status`, (await openElsewhere(`/status/${requestId}`).expect(200)).text);
      assert.match(status, new RegExp(`<html lang="${lang}">`));
      assert.ok(status.includes(escapeHtml(expected)), `${lang}: ${expected}\n${status}`);
      assert.doesNotMatch(status, /Approved: tenant|We cannot unblock/);
      const reply = keepMail(`${lang} unblock reply`, (await mailsTo(email, 2))[1]!);
      assert.ok(reply.text.includes(expected), reply.text);
    }
  });

  it('a reporter who wrote in Korean hears the outcome of the case in Korean (confirmed, and dismissed)', async () => {
    const apiToken = await portal.ctx.apiTokens.create('fbl-lang');
    for (const [action, key, tenant] of [['confirm-abuse', 'reason.report-acted', 'lang-case-a'], ['dismiss-abuse', 'reason.report-not-actionable', 'lang-case-b']] as const) {
      const email = `reporter-${tenant}@example.org`;
      const agent = request.agent(portal.app);
      const csrf = csrfOf(await agent.get('/report').set('Accept-Language', 'ko'));
      const draft = await agent.post('/report').set('Accept-Language', 'ko').field('_csrf', csrf).field('email', email).field('category', 'spam').field('comment', '').field('raw', messageFromTenant({ tenant, messageId: `<${tenant}@shop.example.com>` })).expect(303);
      const preview = await agent.get(draft.headers.location!).set('Accept-Language', 'ko').expect(200);
      await agent.post(draft.headers.location!).set('Accept-Language', 'ko').type('form').send({ _csrf: csrfOf(preview) }).expect(303);
      const [challenge] = await mailsTo(email, 1);
      keepMail('ko report-challenge', challenge!);
      const link = /(\/report\/confirm\/[A-Za-z0-9_-]{43})\?lang=ko\b/.exec(challenge!.text);
      assert.ok(link, challenge!.text);
      const elsewhere = request.agent(portal.app);
      const confirm = await elsewhere.get(link[0]).set('Accept-Language', 'en').expect(200);
      assert.match(confirm.text, /<html lang="ko">/);
      const done = await elsewhere.post(link[1]!).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
      const requestId = done.headers.location!.split('/').pop()!;
      const ticketId = await eventually(async () => (await portal.ctx.requests.get(requestId))?.ticketId);
      // A machine report on the same case too: it has no address and gets no mail.
      await request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${apiToken}`).set('Content-Type', 'message/rfc822').send(messageFromTenant({ tenant, messageId: `<${tenant}-api@shop.example.com>` })).expect(202);
      keepMail('ko report-ack', (await mailsTo(email, 2))[1]!);
      await act(ticketId, action === 'confirm-abuse' ? { action, hours: '24' } : { action, reason: 'not ours to act on' });
      const outcome = keepMail(`ko ${action} reply`, (await mailsTo(email, 3))[2]!);
      assert.ok(outcome.text.includes(t.ko(key)), outcome.text);
      assert.doesNotMatch(outcome.text, /We confirmed the abuse|We looked at the message/);
    }
  });

  it('the pool explainer answers in the reader\'s language: reasons, pool names, times in words, never ISO', async () => {
    await assignPool(portal.ctx, { kind: 'tenant', key: 'lang-tenant', pool: 'high-risk', expires: '72h', reason: 'staff words', source: 'staff', by: 'desk@portal.example.net' });
    await assignPool(portal.ctx, { kind: 'domain', key: 'relay.example', pool: 'relay', expires: 'never', reason: 'staff words', source: 'staff', by: 'desk@portal.example.net' });
    const cases = [
      { name: 'assigned tenant, also relayed', headers: 'X-Tenant-Id: lang-tenant\r\nFrom: news@sub.relay.example\r\nReturn-Path: <>\r\nX-Spam-Flag: YES\r\nSubject: hi', hasA: 'no', hasMx: 'no', overLimits: 'on' },
      { name: 'forwarded, unverified', headers: 'From: someone@elsewhere.example\r\nResent-From: a@b.example\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
      { name: 'forwarded, verified', headers: 'From: someone@elsewhere.example\r\nResent-From: a@b.example\r\nReceived-SPF: pass\r\nAuthentication-Results: mx.example; dkim=pass header.d=elsewhere.example\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
      { name: 'parent domain relay, verified forward', headers: 'From: x@sub.relay.example\r\nResent-From: a@b.example\r\nReceived-SPF: pass\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
      { name: 'plain', headers: 'From: a@clean.example.org\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
    ];
    for (const lang of ['ko', 'zh-TW', 'en'] as const) {
      const agent = request.agent(portal.app);
      const form = await agent.get('/pools/explain').set('Accept-Language', lang).expect(200);
      for (const c of cases) {
        const { name, ...fields } = c;
        const res = await agent.post('/pools/explain').set('Accept-Language', lang).type('form').send({ _csrf: csrfOf(form), ...fields }).expect(200);
        const result = res.text.slice(res.text.indexOf('<section class="result"'));
        assert.doesNotMatch(result.replace(/datetime="[^"]*"/g, ''), ISO, `${lang} ${name}: no ISO time`);
        assert.doesNotMatch(result, /staff words/, `${lang} ${name}: never the staff's reason`);
        if (lang !== 'en') keep(`${lang} /pools/explain ${name}`, res.text);
        else assert.deepEqual(cjkOn(res.text), [], `en ${name}`);
        if (name === 'assigned tenant, also relayed') {
          assert.ok(result.includes(escapeHtml(t[lang]('pools.reason.ndr'))), `${lang}: ${result}`);
          assert.ok(result.includes(escapeHtml(t[lang]('pools.reason.precedence.highRisk'))), `${lang}: the relay assignment gave way`);
        }
        if (name === 'plain') assert.ok(result.includes(escapeHtml(t[lang]('pools.reason.normal'))));
      }
    }
  });

  it('staff close a Korean request (bulk, from the queue) with one of our texts: status page and mail in Korean', async () => {
    const { requestId, ticketId } = await delistForReview('ko', '198.51.100.166', 'ko-closed@example.org');
    const queue = await staff.agent.get('/staff').expect(200);
    assert.match(queue.text, /<select id="bulk-canned" name="canned">/);
    await staff.agent.post('/staff/bulk').type('form').send({ _csrf: staff.csrf, ids: ticketId, canned: 'done', reason: '' }).expect(303);
    assert.equal((await portal.ctx.requests.get(requestId))?.state, 'closed');
    const status = keep('ko status closed', (await openElsewhere(`/status/${requestId}`).expect(200)).text);
    assert.ok(status.includes(escapeHtml(t.ko('staffText.template.done'))), status);
    assert.ok(status.includes(escapeHtml(t.ko('reason.staff-only-category', { category: t.ko('categoryName.botnet') }))), 'the earlier step stays Korean');
    const closed = keepMail('ko request-closed', (await mailsTo('ko-closed@example.org', 3))[2]!);
    assert.ok(closed.text.includes(t.ko('staffText.template.done')), closed.text);
    // In the staff's own words (here Korean), as written.
    const other = await delistForReview('ko', '198.51.100.167', 'ko-closed-words@example.org');
    await act(other.ticketId, { action: 'close', reason: '중복 요청이라 닫아요.' });
    const words = keep('ko status closed (own words)', (await openElsewhere(`/status/${other.requestId}`).expect(200)).text);
    assert.ok(words.includes('중복 요청이라 닫아요.'));
  });

  it('refuses a refusal with neither our text nor a reason, and ignores a reply text that is not ours: 400, never 500', async () => {
    const { requestId, ticketId } = await delistForReview('ko', '198.51.100.165', 'ko-hostile@example.org');
    const post = (fields: Record<string, unknown>) => staff.agent.post(`/staff/tickets/${ticketId}/action`).type('form').send({ _csrf: staff.csrf, action: 'refuse-delist', ...fields });
    for (const fields of [{ reason: '' }, { canned: 'no-such-text', reason: '' }, { canned: ['still-sending', 'done'], reason: '' }, { canned: '__proto__' }, { canned: 'toString', reason: 'x' }]) {
      const res = await post(fields);
      assert.equal(res.status, 400, `${JSON.stringify(fields)}: ${res.status}`);
    }
    const reply = await staff.agent.post(`/staff/tickets/${ticketId}/reply`).type('form').send({ _csrf: staff.csrf, template: 'update', canned: 'constructor', reply: '' });
    assert.equal(reply.status, 400);
    assert.equal((await portal.ctx.requests.get(requestId))?.state, 'needs_review', 'nothing changed');
  });

  it('keeps reading timeline steps stored before issue 16 (text only)', async () => {
    const { requestId } = await delistForReview('ko', '198.51.100.164', 'ko-legacy@example.org');
    await portal.ctx.db.updateTable('request_events').set({ message_key: null, message_params: null }).where('request_id', '=', requestId).execute();
    const status = (await openElsewhere(`/status/${requestId}`).expect(200)).text;
    assert.ok(status.includes(escapeHtml(t.ko('reason.staff-only-category', { category: t.ko('categoryName.botnet') }))), 'the decision step read as the request\'s reason');
    assert.ok(status.includes(escapeHtml(t.ko('timeline.delist.awaiting_confirmation'))));
  });

  it('finds no English sentence on any ko or zh-TW page or mail above', () => {
    assert.ok(seen.length >= 50, `checked: ${seen.length}`);
    const operator = portal.ctx.config.operator.name ? [portal.ctx.config.operator.name] : [];
    const found = seen.flatMap(({ where, text }) => englishRuns(text, operator).map((run) => `${where}: ${run}`));
    assert.deepEqual(found, []);
  });
});
