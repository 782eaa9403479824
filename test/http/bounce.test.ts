import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';

/** A bounce message of test/fixtures/ndr (see its README for the systems and sources). */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/ndr/${name}`, import.meta.url), 'utf8');
const LANGS = ['en', 'ko', 'zh-TW'] as const;

describe('/bounce: paste a bounce message, read what it means', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;

  before(async () => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, bouncePerClientIp: { max: 1000, windowMinutes: 10 } } }) });
    app = createApp(ctx);
    await addListing(ctx, { target: '198.51.100.23', category: 'spam-source', source: 'test', by: 'test' });
    await addListing(ctx, { target: '198.51.100.40', category: 'botnet', source: 'test', by: 'test' });
    await addListing(ctx, { target: '203.0.113.77', category: 'botnet', source: 'test', by: 'test' });
  });
  after(() => ctx.cleanup());

  /** Opens the form in a fresh agent (in a language) and posts a paste with its CSRF token. */
  async function paste(text: string, lang: string = 'en') {
    const agent = request.agent(app);
    const form = await agent.get('/bounce').set('Accept-Language', lang).expect(200);
    return agent.post('/bounce').set('Accept-Language', lang).type('form').send({ _csrf: csrfOf(form), text });
  }

  it('shows the form in each language: a labelled textarea with its limit, a CSRF token, translated words', async () => {
    const words = { en: 'Read a bounce message', ko: '반송 메일 읽기', 'zh-TW': '解讀退信' };
    for (const lang of LANGS) {
      const res = await request(app).get('/bounce').set('Accept-Language', lang).expect(200).expect('content-type', /html/);
      assert.match(res.text, new RegExp(`<html lang="${lang}">`));
      assert.ok(res.text.includes(`<h1>${words[lang]}</h1>`), lang);
      assert.match(res.text, /<label for="text">/);
      assert.match(res.text, /<textarea id="text" name="text" rows="14" maxlength="50000"/);
      assert.match(res.text, /name="_csrf" value="[^"]+"/);
    }
  });

  it('is linked from the home page and from the delist form', async () => {
    for (const path of ['/', '/delist']) {
      const res = await request(app).get(path).set('Accept-Language', 'ko').expect(200);
      assert.match(res.text, /<a href="\/bounce">[^<]*반송 메일[^<]*<\/a>/, path);
    }
  });

  it('our 5.7.606 with a listed IP: says so in each language and links the delist form with the IP filled in, which the form shows', async () => {
    const expected = { en: 'is on our blocked-senders list now', ko: '지금 저희 차단 발신자 목록에 등재되어 있어요', 'zh-TW': '目前已列入我們的封鎖寄件者清單' };
    for (const lang of LANGS) {
      const res = await paste(fixture('postfix-ours-5.7.606.eml'), lang);
      assert.equal(res.status, 200, lang);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.match(res.text, /data-kind="ourListing"/);
      assert.ok(res.text.includes(expected[lang]), lang);
      assert.match(res.text, /<a class="button" id="bounce-next" href="\/delist\?ip=198\.51\.100\.23">/);
      assert.match(res.text, /<code>550 5\.7\.606<\/code>/);
      assert.match(res.text, /<code>mx1\.customer\.example \[192\.0\.2\.25\]<\/code>/);
    }
    const form = await request(app).get('/delist?ip=198.51.100.23').expect(200);
    assert.match(form.text, /id="ip" name="ip"[^>]*value="198\.51\.100\.23"/);
  });

  it('our 5.7.606 for an IP that is no longer listed: says so, and offers no delist button', async () => {
    const res = await paste('550 5.7.606 Access denied, banned sending IP [198.51.100.99]');
    assert.equal(res.status, 200);
    assert.match(res.text, /198\.51\.100\.99 is not on our blocked-senders list now/);
    assert.doesNotMatch(res.text, /href="\/delist\?ip=/);
  });

  it('our 5.7.606 for an IP in a staff-only category, and our 5.7.511: a request to our staff, the IP filled in', async () => {
    const exchange = await paste(fixture('exchange-online-ours-5.7.606.txt'));
    assert.match(exchange.text, /in a category that our support staff review/);
    assert.match(exchange.text, /href="\/delist\?ip=203\.0\.113\.77">Send a request for 203\.0\.113\.77 to our staff</);
    for (const lang of LANGS) {
      const res = await paste(fixture('exim-ours-5.7.511.eml'), lang);
      assert.equal(res.status, 200);
      assert.match(res.text, /data-kind="ourStaff"/);
      assert.match(res.text, /id="bounce-next" href="\/delist\?ip=198\.51\.100\.40"/);
    }
    // 5.7.511 for an IP listed now in a self-removable category: the delist flow decides, the page does not promise staff
    const selfRemovable = await paste('550 5.7.511 Access denied, banned sender [198.51.100.23]');
    assert.match(selfRemovable.text, /data-kind="ourStaff"/);
    assert.match(selfRemovable.text, /198\.51\.100\.23 is on our blocked-senders list now\./);
    assert.match(selfRemovable.text, /id="bounce-next" href="\/delist\?ip=198\.51\.100\.23">Delist 198\.51\.100\.23</);
    assert.doesNotMatch(selfRemovable.text, /Self-service cannot lift this block/);
    const ko = await paste(fixture('exim-ours-5.7.511.eml'), 'ko');
    assert.ok(ko.text.includes('지원팀이 요청을 검토하고 이메일로 답변해 드려요'));
  });

  it('our 5.7.750: the tenant unblock checklist', async () => {
    const res = await paste(fixture('ours-tenant-5.7.750.txt'), 'zh-TW');
    assert.match(res.text, /data-kind="ourTenant"/);
    assert.match(res.text, /href="\/unblock">開啟租用戶解除封鎖檢查清單</);
  });

  it("codes that are not ours say so plainly, with what they mean, and never lead to our delist flow", async () => {
    const cases: Array<[string, string, string]> = [
      ['office365-microsoft-5.7.606.eml', 'microsoftList', 'Microsoft 365 blocked your server'],
      ['sendmail-5.1.1.eml', 'unknownUser', "The recipient's address does not exist"],
      ['hotmail-5.2.2.eml', 'mailboxFull', "The recipient's mailbox is full"],
      ['gmail-5.7.26.eml', 'authentication', "failed the receiver's authentication checks"],
      ['exchange-onprem-5.7.1.eml', 'policy', 'refused the message by its own rules'],
      ['postfix-delayed-4.4.1.txt', 'temporary', 'Delivery is delayed, not refused'],
      ['yahoo-bl21.txt', 'otherBlocklist', 'Blocked by another list'],
    ];
    for (const [name, kind, words] of cases) {
      const res = await paste(fixture(name));
      assert.equal(res.status, 200, name);
      assert.match(res.text, new RegExp(`data-kind="${kind}"`), name);
      assert.ok(res.text.includes(words.replace(/'/g, '&#39;')), `${name}: ${words}`);
      assert.match(res.text, /This is not about our list/, name);
      assert.doesNotMatch(res.text, /href="\/delist\?ip=/, name);
    }
    const ms = await paste(fixture('office365-microsoft-5.7.606.eml'), 'ko');
    assert.match(ms.text, /href="https:\/\/sender\.office\.com\/"/);
    assert.ok(ms.text.includes('저희 목록과는 관계없어요'));
  });

  it('a paste with no status code says what to paste instead (200), an empty one is a 400 with the form', async () => {
    const none = await paste('Hello, my mail did not arrive. Can you help?', 'ko');
    assert.equal(none.status, 200);
    assert.match(none.text, /data-kind="none"/);
    assert.ok(none.text.includes('상태 코드를 찾지 못했어요'));
    const empty = await paste('   \n ', 'zh-TW');
    assert.equal(empty.status, 400);
    assert.ok(empty.text.includes('請貼上退信內容。'));
    assert.match(empty.text, /aria-invalid="true"/);
  });

  it('escapes everything it shows of the paste: the textarea, the server text, the hosts', async () => {
    const hostile = [
      '<script>alert(1)</script>',
      '550 5.7.606 Access denied, banned sending IP [198.51.100.23] <img src=x onerror=alert(2)> "quoted" \'single\'',
      '</textarea><script>alert(3)</script>',
    ].join('\n');
    const res = await paste(hostile);
    assert.equal(res.status, 200);
    assert.doesNotMatch(res.text, /<script>alert|<img src=x|<\/textarea><script>/);
    assert.ok(res.text.includes('&lt;img src=x onerror=alert(2)&gt;'), 'the server text, escaped');
    assert.ok(res.text.includes('&lt;/textarea&gt;&lt;script&gt;alert(3)&lt;/script&gt;'), 'the paste kept in the textarea, escaped');
    assert.match(res.text, /href="\/delist\?ip=198\.51\.100\.23"/);
  });

  it('keeps the paste in the textarea after reading it', async () => {
    const text = fixture('gmail-transcript-spam.txt');
    const res = await paste(text);
    assert.ok(res.text.includes('550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,'));
  });

  it('a text field sent twice, or more fields than the form has, is a 4xx, never a 500', async () => {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/bounce').expect(200));
    const twice = await agent.post('/bounce').type('form').send(`_csrf=${encodeURIComponent(token)}&text=550+5.7.606+x&text=550+5.1.1+y`);
    assert.equal(twice.status, 400);
    assert.match(twice.text, /aria-invalid="true"/);
    const many = await agent.post('/bounce').type('form').send(`_csrf=${encodeURIComponent(token)}&${Array.from({ length: 10 }, (_, i) => `f${i}=1`).join('&')}`);
    assert.equal(many.status, 413);
  });

  it('refuses a form without its CSRF token (403)', async () => {
    const res = await request(app).post('/bounce').type('form').send({ text: '550 5.7.606 Access denied' });
    assert.equal(res.status, 403);
  });

  it('refuses a 10 MB paste with a 413 that names the limit in the visitor\'s language, and goes on answering', async () => {
    const agent = request.agent(app);
    const form = await agent.get('/bounce').set('Accept-Language', 'ko').expect(200);
    const big = `_csrf=${encodeURIComponent(csrfOf(form))}&text=${'550 5.7.606 x '.repeat(800_000)}`;
    const res = await agent.post('/bounce').set('Accept-Language', 'ko').type('form').send(big);
    assert.equal(res.status, 413);
    assert.ok(res.text.includes('붙여 넣은 내용이 너무 커요'));
    assert.ok(res.text.includes('512 kB'));
    assert.match(res.text, /<a class="button" href="\/bounce">/);
    const en = await request(app).post('/bounce').type('form').send(`text=${'a'.repeat(600_000)}`);
    assert.equal(en.status, 413);
    assert.match(en.text, /larger than we accept \(512 kB\)/);
    await agent.get('/bounce').expect(200);
  });

  it('reads the beginning of a paste longer than it reads (under the body limit) and says so', async () => {
    const long = `550 5.7.606 Access denied, banned sending IP [198.51.100.23]\n${'x'.repeat(150_000)}`;
    const res = await paste(long);
    assert.equal(res.status, 200);
    assert.match(res.text, /data-kind="ourListing"/);
    assert.match(res.text, /we read its first 100,000 characters/);
  });
});

describe('/bounce rate limit: only pastes that were read count', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, bouncePerClientIp: { max: 2, windowMinutes: 10 } } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('empty forms are answered without counting; the third read paste is a 429 with Retry-After', async () => {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/bounce').expect(200));
    for (let i = 0; i < 5; i++) await agent.post('/bounce').type('form').send({ _csrf: token, text: ' ' }).expect(400);
    for (let i = 0; i < 2; i++) await agent.post('/bounce').type('form').send({ _csrf: token, text: '550 5.1.1 User unknown' }).expect(200);
    const limited = await agent.post('/bounce').type('form').send({ _csrf: token, text: '550 5.1.1 User unknown' });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
  });
});
