import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { assignPool } from '../../src/features/pools/service.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { requestUnblock } from '../../src/features/unblock/service.js';
import { translator } from '../../src/i18n/index.js';
import { createMailer, readOutbox } from '../../src/mail/mailer.js';
import { renderMail } from '../../src/mail/render.js';
import { processSendMail } from '../../worker/processors/send-mail.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { englishRuns } from '../helpers/english.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { delistToken, storedRequestIds } from '../helpers/portal.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';
import { signedIn } from '../helpers/staff.js';
import { parseAddress } from '../../src/domain/ip.js';

/** Issue 16, first slice: forgiving input, the switcher, tenants' way in, honest buttons, operator identity, upload errors, no English on ko/zh-TW pages. */
const roomy = { max: 1000, windowMinutes: 10 };
const OPERATOR = { OPERATOR_NAME: 'Example Mail GmbH', OPERATOR_CONTACT: 'help@example.net', OPERATOR_PRIVACY_URL: 'https://example.net/privacy', OPERATOR_TERMS_URL: 'https://example.net/terms' };
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
const t = { en: translator('en'), ko: translator('ko'), 'zh-TW': translator('zh-TW') };
const MB = 1024 * 1024;

describe('issue 16: people in their own language (first slice)', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  /** Every ko and zh-TW page these tests render, for the English check at the end. */
  const rendered: Array<{ where: string; html: string }> = [];
  const keep = <R extends { text: string; headers: Record<string, string> }>(where: string, res: R): R => {
    if (/text\/html/.test(res.headers['content-type'] ?? '') && /<html lang="(ko|zh-TW)">/.test(res.text)) rendered.push({ where, html: res.text });
    return res;
  };
  const newest = async () => (await storedRequestIds(ctx)).at(-1)!;

  before(async () => {
    ctx = testContext({
      env: OPERATOR,
      policy: (p) => ({ ...p, samples: { ...p.samples, maxBytes: MB }, rateLimits: { ...p.rateLimits, delistPerClientIp: roomy, delistPerEmail: roomy, delistPerTargetIp: roomy, confirmPerClientIp: roomy, lookupPerClientIp: roomy, reportPerClientIp: roomy, reportPerEmail: roomy, reportDraftPerEmail: roomy, statusPerClientIp: roomy, unblockPerEmail: roomy } }),
    });
    app = createApp(ctx);
    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });
    await addListing(ctx, { target: '203.0.113.77', category: 'botnet', source: 'test', by: 'test' });
    await addListing(ctx, { target: '2001:db8::77', category: 'spam-source', source: 'test', by: 'test' });
  });
  after(() => ctx.cleanup());

  describe('IP fields take what an IME types', () => {
    for (const typed of ['１９８．５１．１００．６０', '198。51。100。60', '198｡51｡100｡60', '　１９８．５１．100。60　']) {
      it(`delists ${JSON.stringify(typed)} as 198.51.100.60`, async () => {
        const agent = request.agent(app);
        const form = await agent.get('/delist').set('Accept-Language', 'ko').expect(200);
        const res = await agent.post('/delist').set('Accept-Language', 'ko').type('form').send({ _csrf: csrfOf(form), email: 'ime@example.org', ip: typed });
        assert.equal(res.status, 303, res.text);
        assert.equal(res.headers.location, '/delist/sent');
        assert.equal((await ctx.requests.get(await newest()))?.ip, '198.51.100.60');
      });
    }

    it('looks up full-width and ideographic-stop IPv4 and full-width IPv6 (colons included)', async () => {
      for (const [typed, ip] of [['１９８。５１。１００。７', '198.51.100.7'], ['２００１：ｄｂ８：：７７', '2001:db8::77']] as const) {
        const res = keep(`/lookup?ip=${typed}`, await request(app).get('/lookup').query({ ip: typed }).set('Accept-Language', 'ko').expect(200));
        assert.ok(res.text.includes(`<h2>${escapeHtml(t.ko('lookup.listed', { ip }))}</h2>`), res.text);
      }
      const priv = keep('/lookup private', await request(app).get('/lookup').query({ ip: '１０．０．０．１' }).set('Accept-Language', 'zh-TW').expect(400));
      assert.ok(priv.text.includes(escapeHtml(t['zh-TW']('errors.ip.special.private'))));
    });
  });

  it('takes IME input on the staff lists too (look-up and a new block entry)', async () => {
    const { agent, csrf } = await signedIn(ctx, app, 'ime-triager@example.net', 'triager');
    const look = await agent.get('/staff/lists').query({ ip: '１９８。５１。１００。８' }).expect(200);
    assert.match(look.text, /<strong>198\.51\.100\.8<\/strong> is listed by 198\.51\.100\.0\/24/);
    const add = await agent.post('/staff/lists/blocklist/add').type('form').send({ _csrf: csrf, target: '１９２．０．２．８８／３２', category: 'manual', expires: '1d', reason: 'IME test' });
    assert.equal(add.status, 303, add.text);
    assert.equal((await ctx.blocklist.lookup(parseAddress('192.0.2.88'))).listed, true);
  });

  describe('the language switcher', () => {
    it('keeps the path and the query, replaces lang, and still sets the cookie', async () => {
      const agent = request.agent(app);
      const ko = keep('/lookup ko', await agent.get('/lookup?ip=198.51.100.7&lang=ko').expect(200));
      assert.match(String(ko.headers['set-cookie']), /pm_lang=ko/);
      const href = /<a href="([^"]+)" lang="en" hreflang="en">/.exec(ko.text)?.[1];
      assert.equal(href, '?ip=198.51.100.7&amp;lang=en');
      const en = await agent.get(`/lookup${href!.replace(/&amp;/g, '&')}`).expect(200);
      assert.match(String(en.headers['set-cookie']), /pm_lang=en/);
      assert.match(en.text, /<html lang="en">/);
      assert.ok(en.text.includes(`<h2>${escapeHtml(t.en('lookup.listed', { ip: '198.51.100.7' }))}</h2>`), 'the lookup result survives the switch');
      // A query that cannot be a link of ours is escaped, never echoed raw.
      const hostile = await request(app).get('/lookup?ip=1"><script>x</script>').expect(400);
      assert.doesNotMatch(hostile.text, /<script>x/);
    });
  });

  describe('CSS for Korean and Chinese', () => {
    it('keeps Korean words whole and puts each language\'s own font family first', async () => {
      const css = (await request(app).get('/style.css').expect(200)).text;
      assert.match(css, /:lang\(ko\) \{ word-break: keep-all;/);
      const family = (lang: string) => new RegExp(`body:lang\\(${lang}\\)[^{]*\\{ font-family: "([^"]+)"`).exec(css)?.[1];
      assert.match(family('zh-TW') ?? '', /TC|JhengHei/, 'a Traditional Chinese family first for zh-TW');
      assert.match(family('ko') ?? '', /Gothic|KR/, 'a Korean family first for ko');
      assert.doesNotMatch(/^body \{[^}]*\}/m.exec(css)?.[0] ?? '', /CJK KR/, 'no Korean family in the stack every language shares');
    });
  });

  describe('tenants find their way', () => {
    it('links /unblock from the home page and from the navigation of every page', async () => {
      const home = keep('/', await request(app).get('/').set('Accept-Language', 'ko').expect(200));
      assert.match(home.text, new RegExp(`<a class="button" href="/unblock">${escapeHtml(t.ko('home.tenant.unblock'))}</a>`));
      for (const path of ['/delist', '/lookup', '/report', '/pools/explain']) {
        const page = keep(path, await request(app).get(path).set('Accept-Language', 'zh-TW').expect(200));
        assert.ok(page.text.includes(`<a href="/unblock">${escapeHtml(t['zh-TW']('nav.unblock'))}</a>`), path);
      }
    });

    for (const lang of ['en', 'ko', 'zh-TW'] as const) {
      it(`lands a valid unblock request on its own "sent" page (${lang})`, async () => {
        const agent = request.agent(app);
        const form = await agent.get('/unblock').set('Accept-Language', lang).expect(200);
        const res = await agent.post('/unblock').set('Accept-Language', lang).type('form').send({ _csrf: csrfOf(form), tenant: `contoso-${lang}`, email: 'admin@contoso.example', domainsRegistered: 'on', connectorsReviewed: 'on', serversLockedDown: 'on', evidence: 'We removed a connector nobody created and closed the open relay.' });
        assert.equal(res.status, 303);
        assert.equal(res.headers.location, '/unblock/sent');
        const sent = keep('/unblock/sent', await agent.get('/unblock/sent').set('Accept-Language', lang).expect(200));
        const main = sent.text.slice(sent.text.indexOf('<main'), sent.text.indexOf('</main>'));
        assert.ok(main.includes(escapeHtml(t[lang]('unblock.sent.lead'))));
        assert.ok(main.includes(`<a href="/unblock">${escapeHtml(t[lang]('unblock.sent.askAgain'))}</a>`));
        assert.ok(!main.includes(escapeHtml(t[lang]('delist.sent.shows'))), 'no IP wording');
        assert.doesNotMatch(main, /href="\/delist"/);
      });
    }
  });

  describe('the delist button says what will happen', () => {
    for (const lang of ['en', 'ko'] as const) {
      it(`says "${t[lang]('delist.confirm.buttonStaff')}" for a staff-only category and "${t[lang]('delist.confirm.button')}" for a self-service one`, async () => {
        await requestDelist(ctx, { email: `owner-${lang}@example.org`, ip: '203.0.113.77' });
        const staffOnly = keep('/delist/confirm staff', await request(app).get(`/delist/confirm/${await delistToken(ctx, await newest())}`).set('Accept-Language', lang).expect(200));
        assert.match(staffOnly.text, new RegExp(`<button type="submit">${escapeHtml(t[lang]('delist.confirm.buttonStaff'))}</button>`));
        assert.ok(!staffOnly.text.includes(escapeHtml(t[lang]('delist.confirm.leftLabel'))), 'no self-delists count where none applies');
        await requestDelist(ctx, { email: `owner-${lang}@example.org`, ip: '198.51.100.9' });
        const self = keep('/delist/confirm self', await request(app).get(`/delist/confirm/${await delistToken(ctx, await newest())}`).set('Accept-Language', lang).expect(200));
        assert.match(self.text, new RegExp(`<button type="submit">${escapeHtml(t[lang]('delist.confirm.button'))}</button>`));
      });
    }
  });

  it('says "Send to our staff" when the self-delists are used up, and shows the count that says so', async () => {
    const spent = testContext({ policy: (p) => ({ ...p, selfDelist: { ...p.selfDelist, maxPerWindow: 0 } }) });
    try {
      await addListing(spent, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });
      await requestDelist(spent, { email: 'spent@example.org', ip: '198.51.100.10' });
      const id = (await storedRequestIds(spent)).at(-1)!;
      const page = await request(createApp(spent)).get(`/delist/confirm/${await delistToken(spent, id)}`).set('Accept-Language', 'zh-TW').expect(200);
      assert.match(page.text, new RegExp(`<button type="submit">${escapeHtml(t['zh-TW']('delist.confirm.buttonStaff'))}</button>`));
      assert.ok(page.text.includes(escapeHtml(t['zh-TW']('delist.confirm.budgetUsed'))));
    } finally {
      await spent.cleanup();
    }
  });

  describe('operator identity', () => {
    it('is in every page footer, in the page language', async () => {
      for (const lang of ['en', 'ko', 'zh-TW'] as const) {
        for (const path of ['/', '/delist', '/no-such-page']) {
          const res = keep(path, await request(app).get(path).set('Accept-Language', lang));
          const footer = res.text.slice(res.text.indexOf('<footer'));
          assert.ok(footer.includes(escapeHtml(t[lang]('footer.operatedBy', { name: 'Example Mail GmbH' }))), `${lang} ${path}`);
          assert.ok(footer.includes('<a href="mailto:help@example.net">help@example.net</a>'));
          assert.ok(footer.includes(`<a href="https://example.net/privacy">${escapeHtml(t[lang]('footer.privacy'))}</a>`));
          assert.ok(footer.includes(`<a href="https://example.net/terms">${escapeHtml(t[lang]('footer.terms'))}</a>`));
        }
      }
    });

    it('is in the footer of a mail the worker sends, in the request\'s language', async () => {
      await requestUnblock(ctx, { tenant: 'contoso', email: 'admin@contoso.example', evidence: 'We removed a connector nobody created.', lang: 'zh-TW' });
      const mailer = createMailer({ smtpUrl: undefined, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
      await processSendMail(ctx, mailer, { kind: 'unblock-challenge', requestId: await newest() });
      mailer.close();
      const [mail] = await readOutbox(ctx.redis, ctx.keys);
      for (const line of [t['zh-TW']('footer.operatedBy', { name: 'Example Mail GmbH' }), `${t['zh-TW']('footer.contact')} help@example.net`, `${t['zh-TW']('footer.privacy')}: https://example.net/privacy`, `${t['zh-TW']('footer.terms')}: https://example.net/terms`]) {
        assert.ok(mail!.text.includes(line), `text: ${line}\n${mail!.text}`);
      }
      assert.ok(decodeQuotedPrintable(mail!.raw).includes('href=3D"mailto:help@example.net"') || decodeQuotedPrintable(mail!.raw).includes('href="mailto:help@example.net"'));
    });

    it('has defaults: the name of the portal, the MAIL_FROM address, no privacy or terms link; bad values are refused at start', async () => {
      const config = loadConfig({ NODE_ENV: 'test', MAIL_FROM: 'Mail Team <team@mail.example>' });
      assert.deepEqual(config.operator, { contact: 'team@mail.example' });
      const mail = await renderMail('delist-challenge', 'a@example.org', { ip: '198.51.100.1', publicUrl: 'http://portal.test', ttlMinutes: 60, confirmUrl: 'http://portal.test/x', operator: config.operator }, 'ko');
      assert.ok(mail.text.includes(t.ko('footer.operatedBy', { name: t.ko('site.name') })));
      assert.ok(!mail.text.includes(t.ko('footer.privacy')));
      assert.throws(() => loadConfig({ NODE_ENV: 'test', OPERATOR_PRIVACY_URL: 'javascript:alert(1)', OPERATOR_CONTACT: 'not an address', OPERATOR_NAME: 'a\nb' }), (err: Error) => err instanceof ConfigError && /OPERATOR_PRIVACY_URL/.test(err.message) && /OPERATOR_CONTACT/.test(err.message) && /OPERATOR_NAME/.test(err.message));
      const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
      for (const key of Object.keys(OPERATOR)) assert.match(readme, new RegExp(`\\| \`${key}\` \\|`), `README documents ${key}`);
    });
  });

  describe('an over-size sample on /report', () => {
    for (const [what, size] of [['over the limit and the form (answered when the file starts)', 2 * MB], ['just over the limit (the file limit)', MB + 1024]] as const) {
      it(`keeps the other fields and names the limit: ${what}`, async () => {
        const agent = request.agent(app);
        const form = await agent.get('/report').set('Accept-Language', 'ko').expect(200);
        const sample = Buffer.from(messageFromTenant({ tenant: 't', messageId: '<big@shop.example.com>', bodyBytes: size }));
        const res = keep('/report over-size', await agent.post('/report').set('Accept-Language', 'ko').field('_csrf', csrfOf(form)).field('email', 'keep@example.org').field('category', 'malware').field('comment', '두 번째 신고예요').attach('sample', sample, 'big.eml'));
        assert.equal(res.status, 413);
        assert.ok(res.text.includes(escapeHtml(t.ko('errors.sample.tooLarge', { mb: 1 }))), 'the limit is named, in Korean');
        assert.match(res.text, /value="keep@example\.org"/);
        assert.match(res.text, /<option value="malware" selected>/);
        assert.ok(res.text.includes('두 번째 신고예요</textarea>'));
        assert.match(res.text, /<div class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus>/);
      });
    }
  });

  describe('focus after a validation error', () => {
    it('moves to the error summary (autofocus, and a self-hosted script the CSP allows); the form still works without it', async () => {
      const agent = request.agent(app);
      const form = await agent.get('/delist').set('Accept-Language', 'zh-TW').expect(200);
      const res = keep('/delist refused', await agent.post('/delist').set('Accept-Language', 'zh-TW').type('form').send({ _csrf: csrfOf(form), email: 'x', ip: 'y' }).expect(400));
      assert.match(res.text, /<div class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus>/);
      assert.match(res.text, /<script src="\/focus\.js" defer><\/script>/);
      assert.match(String(res.headers['content-security-policy']), /script-src 'self'/);
      const js = await request(app).get('/focus.js').expect(200);
      assert.match(String(js.headers['content-type']), /javascript/);
      assert.match(js.text, /\.error-summary/);
      const unblock = keep('/unblock refused', await agent.post('/unblock').set('Accept-Language', 'ko').type('form').send({ _csrf: csrfOf(form), tenant: '' }).expect(400));
      assert.match(unblock.text, /autofocus/);
    });
  });

  describe('no English sentences on the Korean and Chinese pages', () => {
    it('renders the public pages these tests did not visit yet, too', async () => {
      for (const lang of ['ko', 'zh-TW']) {
        for (const path of ['/', '/delist', '/delist/sent', '/lookup', '/lookup?ip=198.51.100.7', '/lookup?ip=2001:db8::1', '/report', '/unblock', '/unblock/sent', '/pools/explain', '/report/sent', '/no-such-page']) {
          keep(path, await request(app).get(path).set('Accept-Language', lang));
        }
      }
      // The pool explainer's answer: every rule's reason, from message keys (an assignment's time in words).
      await assignPool(ctx, { kind: 'tenant', key: 'people-tenant', pool: 'high-risk', expires: '72h', reason: 'staff words', source: 'staff', by: 'desk@example.net' });
      const answers = [
        { headers: 'X-Tenant-Id: people-tenant\r\nFrom: a@nodns.example\r\nReturn-Path: <>\r\nX-Spam-Flag: YES\r\nResent-From: b@c.example\r\nSubject: hi', hasA: 'no', hasMx: 'no', overLimits: 'on' },
        { headers: 'From: a@fwd.example\r\nResent-From: b@c.example\r\nReceived-SPF: pass\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
        { headers: 'From: a@fwd.example\r\nResent-From: b@c.example\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
        { headers: 'From: a@plain.example\r\nSubject: hi', hasA: 'yes', hasMx: 'yes' },
      ];
      for (const lang of ['ko', 'zh-TW']) {
        const agent = request.agent(app);
        const form = await agent.get('/pools/explain').set('Accept-Language', lang).expect(200);
        for (const fields of answers) keep('/pools/explain answer', await agent.post('/pools/explain').set('Accept-Language', lang).type('form').send({ _csrf: csrfOf(form), ...fields }).expect(200));
      }
    });

    it('finds none on any ko or zh-TW page rendered above', () => {
      assert.ok(rendered.length >= 40, `pages checked: ${rendered.length}`);
      const found = rendered.flatMap(({ where, html }) => englishRuns(html, [OPERATOR.OPERATOR_NAME]).map((run) => `${where}: ${run}`));
      assert.deepEqual(found, []);
    });

    it('finds none in the ko and zh-TW mails', async () => {
      const data = { ip: '198.51.100.7', publicUrl: 'http://portal.test', ttlMinutes: 60, confirmUrl: 'http://portal.test/x', statusUrl: 'http://portal.test/status/x', operator: ctx.config.operator, state: 'delisted', stateLabel: 'Delisted', reason: 'x', hasReason: true, reasonCode: 'delisted', reasonParams: {}, update: 'need-info', text: '' };
      for (const lang of ['ko', 'zh-TW']) {
        for (const name of ['delist-challenge', 'delist-result', 'report-ack', 'report-challenge', 'staff-reply', 'unblock-challenge']) {
          const mail = await renderMail(name, 'a@example.org', data, lang);
          assert.deepEqual([mail.subject, mail.text, mail.html].flatMap((part) => englishRuns(part, [OPERATOR.OPERATOR_NAME])), [], `${lang} ${name}`);
        }
      }
    });

    it('catches an English sentence (the check can fail)', () => {
      assert.deepEqual(englishRuns('<p>지원팀 검토 필요: Listings of the category</p><code>550 5.7.606 Access denied</code>'), ['Listings of the category']);
    });
  });
});
