import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { confirmDelist, requestDelist } from '../../src/features/delist/service.js';
import { addNote, refuseDelist, reply } from '../../src/features/staff/actions.js';
import { translator } from '../../src/i18n/index.js';
import { processDelist } from '../../worker/processors/delist.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { challengeToken, requestIdsAt } from '../helpers/portal.js';
import { PASSWORD } from '../helpers/staff.js';

const LANGS = ['en', 'ko', 'zh-TW'] as const;
const KEYS = ['events', 'final', 'id', 'label', 'next', 'reason', 'state'];
const EVENT_KEYS = ['after', 'at', 'before', 'label', 'when'];
const roomy = { max: 1000, windowMinutes: 10 };
const count = (text: string, part: string) => text.split(part).length - 1;
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');

/**
 * Issue 16: `GET /status/:id.json`, what the status page's script follows. It holds the page's changing text and
 * nothing else: no address (not even masked), no staff note or reply, no other request.
 */
describe('GET /status/:id.json', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, statusPerClientIp: roomy } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  /** A delist request as the form makes it, confirmed unless `confirm` is false; its id. */
  async function delistRequest(email: string, ip: string, confirm = true): Promise<string> {
    const now = new Date();
    await requestDelist(ctx, { email, ip, lang: 'en' }, now);
    const id = (await requestIdsAt(ctx, now))[0]!;
    if (confirm) await confirmDelist(ctx, await challengeToken(ctx, id));
    return id;
  }

  it('follows a request from queued to its final state, with the page\'s own text', async () => {
    await addListing(ctx, { target: '198.51.100.40', category: 'spam-source', source: 'test', by: 'test' });
    const id = await delistRequest('live-owner@example.org', '198.51.100.40');
    const queued = await request(app).get(`/status/${id}.json`).expect(200).expect('content-type', /json/).expect('cache-control', 'no-store');
    assert.deepEqual(Object.keys(queued.body).sort(), KEYS);
    assert.equal(queued.body.state, 'queued');
    assert.equal(queued.body.final, false);
    assert.equal(queued.body.label, 'Queued');
    assert.deepEqual(queued.body.events.map((e: { label: string }) => e.label), ['Waiting for email confirmation', 'Queued']);
    for (const e of queued.body.events) assert.deepEqual(Object.keys(e).sort(), EVENT_KEYS);

    await processDelist(ctx, { requestId: id });
    const done = await request(app).get(`/status/${id}.json`).expect(200);
    assert.equal(done.body.state, 'delisted');
    assert.equal(done.body.final, true);
    assert.equal(done.body.events.length, 3);
    // What a reload shows is what the script puts on the page: the same label, reason, next step and timeline.
    const page = (await request(app).get(`/status/${id}`).expect(200)).text;
    for (const text of [done.body.label, done.body.reason, done.body.next]) assert.ok(text && page.includes(escapeHtml(text)), text);
    for (const e of done.body.events) assert.ok(page.includes(`<time datetime="${e.at}">${escapeHtml(e.when)}</time> — ${escapeHtml(e.before)}<strong>${escapeHtml(e.label)}</strong>${escapeHtml(e.after)}</li>`), e.when);
    assert.doesNotMatch(page, /data-live-url|live-status\.js/, 'a final page is not followed');
    assert.doesNotMatch(page, /http-equiv="refresh"/);
  });

  it('answers in the language it is asked for (?lng=, the page\'s), else the visitor\'s choice, else the request\'s, and sets no language cookie', async () => {
    const id = await delistRequest('live-lang@example.org', '198.51.100.41', false);
    for (const lang of LANGS) {
      const t = translator(lang);
      const res = await request(app).get(`/status/${id}.json?lng=${encodeURIComponent(lang)}`).set('Accept-Language', 'en').expect(200);
      assert.equal(res.body.label, t('state.awaiting_confirmation.label'));
      assert.equal(res.body.next, t('state.awaiting_confirmation.next'));
      const cookies = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
      assert.ok(!cookies.some((c) => c.startsWith('pm_lang=')), 'no language cookie');
      // The request was made in English: a visitor's choice (`?lang=`, the switcher's and the mailed link's) changes it.
      const page = await request(app).get(`/status/${id}?lang=${encodeURIComponent(lang)}`).set('Accept-Language', 'en').expect(200);
      assert.ok(page.text.includes(`data-live-url="/status/${id}.json?lng=${encodeURIComponent(lang)}"`), `${lang}: the page points its script at its own language`);
    }
    // Without a language asked for (or a bad one) and without a visitor's choice: the request's own (English here), not the browser's.
    const byRequest = await request(app).get(`/status/${id}.json?lng=xx`).set('Accept-Language', 'ko').expect(200);
    assert.equal(byRequest.body.label, translator('en')('state.awaiting_confirmation.label'));
    const chosen = await request(app).get(`/status/${id}.json`).set('Cookie', 'pm_lang=zh-TW').set('Accept-Language', 'ko').expect(200);
    assert.equal(chosen.body.label, translator('zh-TW')('state.awaiting_confirmation.label'), 'the visitor\'s choice (cookie) wins');
  });

  it('holds no address, no staff note, reply or staff member, and no other request; a staff refusal reads as on the page', async () => {
    await addListing(ctx, { target: '192.0.2.0/24', category: 'botnet', reason: 'OPERATOR-REASON honeypot 7', note: 'LISTING-NOTE call Alice', source: 'cli', by: 'cli:root' });
    const other = await delistRequest('someone-else@example.net', '192.0.2.99');
    const id = await delistRequest('private.person@example.org', '192.0.2.50');
    await processDelist(ctx, { requestId: id });
    await processDelist(ctx, { requestId: other });
    const review = await request(app).get(`/status/${id}.json`).expect(200);
    assert.equal(review.body.state, 'needs_review');
    assert.equal(review.body.final, true);

    const user = await ctx.staff.add('desk.person@portal.example.net', 'admin', PASSWORD);
    const ticket = (await ctx.tickets.get(`t-${id}`))!;
    await addNote(ctx, ticket.id, 'NOTE-SECRET the owner sounded dodgy', { user });
    await reply(ctx, ticket.id, 'need-info', 'REPLY-TEXT please tell us which host was infected', { user });
    await refuseDelist(ctx, ticket.id, 'Your server still sends botnet traffic; clean it first.', { user });

    for (const lang of LANGS) {
      const res = await request(app).get(`/status/${id}.json?lng=${lang}`).expect(200);
      assert.deepEqual(Object.keys(res.body).sort(), KEYS);
      assert.equal(res.body.state, 'refused');
      // Our sentence in the reader's language, the staff member's words as written.
      assert.equal(res.body.reason, translator(lang)('reason.staff-refused', { note: 'Your server still sends botnet traffic; clean it first.' }), 'the refusal written to the requester, as the page shows it');
      const page = (await request(app).get(`/status/${id}?lang=${lang}`).expect(200)).text;
      assert.ok(page.includes(escapeHtml(res.body.reason)));
      for (const secret of ['NOTE-SECRET', 'REPLY-TEXT', 'desk.person', 'portal.example.net', 'OPERATOR-REASON', 'LISTING-NOTE', 'Alice', 'cli:root', `t-${id}`, 'private.person', 'p…@example.org', '192.0.2.50', 'someone-else', '192.0.2.99', other]) {
        assert.ok(!res.text.includes(secret), `${lang}: the JSON shows ${secret}`);
      }
    }
  });

  it('a page still moving on loads the script from our origin and refreshes only without JavaScript', async () => {
    const id = await delistRequest('live-script@example.org', '198.51.100.42', false);
    const page = (await request(app).get(`/status/${id}`).expect(200)).text;
    assert.equal(count(page, '<script src="/live-status.js" defer></script>'), 1);
    assert.equal(count(page, '<script'), count(page, '<script src="/') , 'only script files of ours');
    assert.ok(page.includes('<noscript><meta http-equiv="refresh" content="3"></noscript>'));
    assert.equal(count(page, 'http-equiv="refresh"'), 1, 'no refresh outside <noscript>');
    assert.match(page, /<div class="live" role="status" aria-live="polite" aria-atomic="true" data-live-url=/);
    const script = await request(app).get('/live-status.js').expect(200).expect('content-type', /javascript/);
    assert.match(script.text, /data-live-url/);
  });

  it('answers 404 for an unknown id and 400 for one that cannot be an id, as JSON, never 500', async () => {
    const unknown = await request(app).get('/status/AAAAAAAAAAAAAAAA.json').set('Accept', 'application/json').expect(404);
    assert.equal(unknown.body.code, 'NOT_FOUND');
    for (const bad of ['nope', 'A'.repeat(17), 'AAAAAAAAAAAAAAA%3D', '%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00', "AAAAAAAA'OR'1'='1", 'x'.repeat(5000)]) {
      const res = await request(app).get(`/status/${bad}.json`).set('Accept', 'application/json');
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.code, 'BAD_REQUEST');
      assert.ok(!res.text.includes("'1'='1"), 'the id is not echoed');
    }
  });
});

describe('GET /status/:id.json is limited with the page', () => {
  it('shares the status page\'s per-client counter and answers 429 with Retry-After', async () => {
    const ctx = testContext({ policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, statusPerClientIp: { max: 3, windowMinutes: 1 } } }) });
    try {
      const app = createApp(ctx);
      const from = (ip: string) => ({ 'X-Forwarded-For': ip, Accept: 'application/json' });
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA').set(from('192.0.2.60'))).status, 404);
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA.json').set(from('192.0.2.60'))).status, 404);
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA.json').set(from('192.0.2.60'))).status, 404);
      const limited = await request(app).get('/status/AAAAAAAAAAAAAAAA.json').set(from('192.0.2.60'));
      assert.equal(limited.status, 429);
      assert.equal(limited.body.code, 'RATE_LIMITED');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA').set(from('192.0.2.60'))).status, 429, 'the page shares the count');
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA.json').set(from('192.0.2.61'))).status, 404, 'another client is not limited');
    } finally {
      await ctx.cleanup();
    }
  });
});
