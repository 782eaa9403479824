import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { CATEGORIES } from '../../src/features/report/schema.js';
import { createDraft, submitDraft } from '../../src/features/report/service.js';
import { STATE_LABELS } from '../../src/features/status/labels.js';
import { requestUnblock } from '../../src/features/unblock/service.js';
import { renderMail } from '../../src/mail/render.js';
import { loadPolicy } from '../../src/policy.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { foreignMessage, messageFromTenant } from '../helpers/messages.js';
import { delistToken, storedRequestIds } from '../helpers/portal.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
type Tree = { [key: string]: string | Tree };
const LANGS = ['en', 'ko', 'zh-TW'] as const;
type Lang = (typeof LANGS)[number];
const locales = Object.fromEntries(LANGS.map((l) => [l, JSON.parse(readFileSync(path.join(root, `src/i18n/locales/${l}.json`), 'utf8')) as Tree])) as Record<Lang, Tree>;

/** Every leaf of a locale file as 'a.b.c' → text. */
function flatten(tree: Tree, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(tree)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) for (const [kk, vv] of flatten(v, `${prefix}${k}.`)) out.set(kk, vv);
    else out.set(`${prefix}${k}`, v);
  }
  return out;
}
const flat = Object.fromEntries(LANGS.map((l) => [l, flatten(locales[l])])) as Record<Lang, Map<string, unknown>>;

/** The text of a key in a language, with {{params}} filled in, as the views print it (HTML-escaped). */
function text(lang: Lang, key: string, params: Record<string, string | number> = {}): string {
  const value = flat[lang].get(key);
  assert.equal(typeof value, 'string', `${lang}: ${key} is a string`);
  return (value as string).replace(/\{\{(\w+)\}\}/g, (_, name: string) => String(params[name] ?? `{{${name}}}`));
}
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

const roomy = { max: 1000, windowMinutes: 10 };

describe('the public pages in English, Korean and Traditional Chinese', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  const pages: Array<{ path: string; key: string; params?: Record<string, string>; tag?: string; choose?: boolean }> = [];

  const newest = async () => (await storedRequestIds(ctx)).at(-1)!;
  const tokenOf = (id: string) => delistToken(ctx, id);

  before(async () => {
    ctx = testContext({
      policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, delistPerClientIp: roomy, delistPerEmail: roomy, delistPerTargetIp: roomy, confirmPerClientIp: roomy, lookupPerClientIp: roomy, reportPerClientIp: roomy, reportPerEmail: roomy } }),
    });
    app = createApp(ctx);
    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });

    await requestDelist(ctx, { email: 'owner@example.com', ip: '198.51.100.23' });
    const delistId = await newest();
    const delistToken = await tokenOf(delistId);

    const draft = await createDraft(ctx, { email: 'reporter@example.org', category: 'spam', comment: '', sample: Buffer.from(messageFromTenant({ tenant: 'tenant-i18n', messageId: '<i18n-1@shop.example.com>' })) });
    const previewPath = `/report/preview/${draft}`;
    const draft2 = await createDraft(ctx, { email: 'reporter@example.org', category: 'spam', comment: '', sample: Buffer.from(messageFromTenant({ tenant: 'tenant-i18n', messageId: '<i18n-2@shop.example.com>' })) });
    await submitDraft(ctx, draft2);
    const reportToken = await tokenOf(await newest());

    await requestUnblock(ctx, { tenant: 'tenant-i18n', email: 'admin@example.org', evidence: 'We removed the connector nobody created and closed the relay.' });
    const unblockToken = await tokenOf(await newest());

    pages.push(
      { path: '/', key: 'site.name' },
      { path: '/delist', key: 'delist.form.title' },
      { path: '/delist/sent', key: 'common.checkEmail' },
      { path: `/delist/confirm/${delistToken}`, key: 'delist.confirm.title', params: { ip: '198.51.100.23' } },
      { path: `/status/${delistId}`, key: 'status.heading.delist', params: { ip: '198.51.100.23' } },
      { path: '/lookup', key: 'lookup.title' },
      { path: '/lookup?ip=198.51.100.7', key: 'lookup.listed', params: { ip: '198.51.100.7' }, tag: 'h2' },
      { path: '/lookup?ip=2001:db8::1', key: 'lookup.notListed', params: { ip: '2001:db8::1' }, tag: 'h2' },
      { path: '/report', key: 'report.form.title' },
      { path: previewPath, key: 'report.preview.title' },
      { path: '/report/sent', key: 'common.checkEmail' },
      // This report was made in English (a draft's language): its page follows the request's language unless the
      // visitor chooses one, as the switcher (and the mailed link, `?lang=`) does.
      { path: `/report/confirm/${reportToken}`, key: 'report.confirm.title', choose: true },
      { path: '/unblock', key: 'unblock.form.heading' },
      { path: '/unblock/sent', key: 'common.checkEmail' },
      { path: `/unblock/confirm/${unblockToken}`, key: 'unblock.confirm.title' },
      { path: '/pools/explain', key: 'pools.explain.title' },
      { path: '/no-such-page', key: 'error.title.404' },
    );
  });
  after(() => ctx.cleanup());

  for (const [lang, header] of [['ko', 'ko-KR,ko;q=0.9,en;q=0.5'], ['zh-TW', 'zh-TW,zh;q=0.9'], ['en', 'en-GB']] as const) {
    it(`answers every public page in ${lang} for Accept-Language: ${header}`, async () => {
      for (const page of pages) {
        const res = await request(app).get(page.path).query(page.choose ? { lang } : {}).set('Accept-Language', header);
        assert.ok([200, 404].includes(res.status), `${page.path}: ${res.status}`);
        assert.match(res.text, new RegExp(`<html lang="${lang}">`), page.path);
        const tag = page.tag ?? 'h1';
        assert.ok(res.text.includes(`<${tag}>${escapeHtml(text(lang, page.key, page.params))}</${tag}>`), `${lang} ${page.path}: heading "${text(lang, page.key, page.params)}"`);
        assert.ok(res.text.includes(escapeHtml(text(lang, 'site.footer'))), `${lang} ${page.path}: footer`);
        // The switcher keeps the page's own query (a lookup), its lang replaced.
        const query = page.path.includes('?') ? `${escapeHtml(new URLSearchParams(page.path.slice(page.path.indexOf('?') + 1)).toString()).replace(/[.?*+^$()|[\]\\]/g, '\\$&')}&amp;` : '';
        assert.match(res.text, new RegExp(`<a href="\\?${query}lang=${lang}" lang="${lang}" hreflang="${lang}" aria-current="true">`), `${page.path}: the current language is marked`);
        for (const other of LANGS.filter((l) => l !== lang)) assert.match(res.text, new RegExp(`<a href="\\?${query}lang=${other}" lang="${other}" hreflang="${other}">`));
        if (lang !== 'en') assert.doesNotMatch(res.text, /Postmaster Portal ·|Skip to content/, `${lang} ${page.path}: no English chrome left`);
      }
    });
  }

  it('shows the state, the labels and the dates of a status page in the reader\'s language', async () => {
    const id = (await storedRequestIds(ctx))[0]!;
    const ko = await request(app).get(`/status/${id}`).set('Accept-Language', 'ko').expect(200);
    assert.ok(ko.text.includes(escapeHtml(text('ko', 'state.awaiting_confirmation.label'))));
    assert.ok(ko.text.includes(escapeHtml(text('ko', 'state.awaiting_confirmation.next'))));
    assert.ok(ko.text.includes(escapeHtml(text('ko', 'timeline.delist.awaiting_confirmation'))));
    assert.match(ko.text, /\d{4}년 \d{1,2}월 \d{1,2}일/);
    const zh = await request(app).get(`/status/${id}`).set('Accept-Language', 'zh-Hant').expect(200);
    assert.ok(zh.text.includes(escapeHtml(text('zh-TW', 'state.awaiting_confirmation.label'))));
  });

  it('keeps the choice made with ?lang= in a cookie, over Accept-Language, until another is chosen', async () => {
    const agent = request.agent(app);
    const chosen = await agent.get('/?lang=ko').set('Accept-Language', 'en').expect(200);
    assert.match(String(chosen.headers['set-cookie']), /pm_lang=ko/);
    assert.match(chosen.text, /<html lang="ko">/);
    const later = await agent.get('/delist').expect(200);
    assert.match(later.text, /<html lang="ko">/);
    assert.ok(later.text.includes(`<h1>${escapeHtml(text('ko', 'delist.form.title'))}</h1>`));
    const otherHeader = await agent.get('/lookup').set('Accept-Language', 'zh-TW').expect(200);
    assert.match(otherHeader.text, /<html lang="ko">/);
    await agent.get('/?lang=zh-TW').expect(200);
    assert.match((await agent.get('/report').expect(200)).text, /<html lang="zh-TW">/);
    assert.match((await request(app).get('/?lang=xx').expect(200)).text, /<html lang="en">/);
  });

  it('translates the field errors of a refused form and keeps them tied to their fields', async () => {
    const agent = request.agent(app);
    const form = await agent.get('/delist').set('Accept-Language', 'ko').expect(200);
    const res = await agent.post('/delist').set('Accept-Language', 'ko').type('form').send({ _csrf: csrfOf(form), email: '', ip: '10.1.2.3' }).expect(400);
    assert.ok(res.text.includes(`<p class="field-error" id="ip-error">${escapeHtml(text('ko', 'errors.ip.special.private'))}</p>`));
    assert.ok(res.text.includes(`<p class="field-error" id="email-error">${escapeHtml(text('ko', 'errors.email.requiredBounce'))}</p>`));
    assert.ok(res.text.includes(escapeHtml(text('ko', 'common.errorSummary'))));
    assert.match(res.text, /aria-describedby="ip-hint ip-error" aria-invalid="true"/);
    assert.doesNotMatch(res.text, /errors\.(ip|email)\./, 'no message key shows through');

    const zhForm = await agent.get('/unblock').set('Accept-Language', 'zh-TW').expect(200);
    const zh = await agent.post('/unblock').set('Accept-Language', 'zh-TW').type('form').send({ _csrf: csrfOf(zhForm), tenant: 'bad tenant!', email: 'nobody', evidence: 'short' }).expect(400);
    for (const key of ['errors.tenant.invalid', 'errors.email.invalid', 'errors.unblock.domainsRegistered', 'errors.evidence.tooShort']) assert.ok(zh.text.includes(escapeHtml(text('zh-TW', key))), key);

    const en = await agent.post('/delist').set('Accept-Language', 'en').type('form').send({ _csrf: csrfOf(form), email: 'a@example.com', ip: '[198.51.100.7]' }).expect(400);
    assert.ok(en.text.includes(escapeHtml(text('en', 'errors.ip.brackets'))));
  });

  it('translates error pages: a bad form token, a missing page and a foreign report', async () => {
    const csrf = await request(app).post('/delist').set('Accept-Language', 'zh-TW').type('form').send({ email: 'a@example.com', ip: '198.51.100.5' }).expect(403);
    assert.match(csrf.text, /<html lang="zh-TW">/);
    assert.ok(csrf.text.includes(escapeHtml(text('zh-TW', 'error.CSRF_INVALID'))));
    assert.ok(csrf.text.includes(`<h1>${escapeHtml(text('zh-TW', 'error.title.403'))}</h1>`));

    const missing = await request(app).get('/status/AAAAAAAAAAAAAAAA').set('Accept-Language', 'ko').expect(404);
    assert.ok(missing.text.includes(escapeHtml(text('ko', 'error.NOT_FOUND'))));

    const agent = request.agent(app);
    const form = await agent.get('/report').set('Accept-Language', 'ko').expect(200);
    const foreign = await agent.post('/report').set('Accept-Language', 'ko').field('_csrf', csrfOf(form)).field('email', 'r@example.org').field('category', 'spam').field('raw', foreignMessage).expect(422);
    assert.ok(foreign.text.includes(`<h1>${escapeHtml(text('ko', 'report.notOurs.title'))}</h1>`));
    assert.ok(foreign.text.includes(escapeHtml(text('ko', 'error.NotOurMail'))));

    const english = await request(app).get('/status/AAAAAAAAAAAAAAAA').expect(404);
    assert.match(english.text, /We have no request with this number/, 'English keeps the service\'s own message');
  });

  it('keeps staff pages in English whatever the visitor chose', async () => {
    const res = await request(app).get('/staff/login').set('Accept-Language', 'ko').set('Cookie', 'pm_lang=ko').expect(200);
    assert.match(res.text, /<html lang="en">/);
    assert.ok(res.text.includes(escapeHtml(text('en', 'site.footer'))));
    assert.ok(!res.text.includes(escapeHtml(text('ko', 'site.footer'))));
  });
});

describe('the locale files', () => {
  it('write Korean in the polite 해요체, never 하십시오체/합쇼체 (감사합니다 is the one fixed phrase kept)', () => {
    const stiff = [...flat.ko].filter(([, v]) => /(습니다|십시오|입니다|됩니다|습니까|니까\?)/.test(String(v).replace(/감사합니다/g, '')));
    assert.deepEqual(stiff.map(([k, v]) => `${k}: ${v}`), []);
  });

  it('follow the glossary (src/i18n/glossary.md): one term per concept, none of the words it tells translators to avoid', () => {
    const glossary = readFileSync(path.join(root, 'src/i18n/glossary.md'), 'utf8');
    const avoid: Record<'ko' | 'zh-TW', string[]> = {
      ko: ['담당 직원', '셀프 해제', '셀프서비스로', '스팸 신고', '블랙리스트', '고객사', '증빙', '인증 링크', '주소 풀', '유예 기간', '하십시오', '입력하십시오'],
      'zh-TW': ['工作人員', '我們的人員', '黑名單', '舉報', '投訴', '租戶', '驗證連結', '退件', '資源池', 'IP 地址', '网络', '服务器', '链接', '隱私政策'],
    };
    for (const lang of ['ko', 'zh-TW'] as const) {
      for (const word of avoid[lang]) {
        assert.ok(glossary.includes(word) || ['하십시오', '입력하십시오', '我們的人員', '网络', '服务器', '链接'].includes(word), `the glossary names "${word}"`);
        const used = [...flat[lang]].filter(([, v]) => String(v).includes(word)).map(([k]) => k);
        assert.deepEqual(used, [], `${lang}: "${word}" is to be avoided`);
      }
    }
    // The concept terms of the glossary are the ones the pages use.
    assert.equal(text('ko', 'status.heading.report'), '악용 신고');
    assert.equal(text('ko', 'nav.report'), '악용 신고');
    assert.equal(text('zh-TW', 'status.heading.report'), '濫用檢舉');
    assert.equal(text('zh-TW', 'nav.report'), '濫用檢舉');
    for (const key of ['state.needs_review.next', 'state.closed.next', 'mail.reportAck.followUp', 'pools.explain.publicReason.staff']) {
      assert.match(text('ko', key), /지원팀/, `ko ${key}`);
      assert.match(text('zh-TW', key), /支援團隊/, `zh-TW ${key}`);
    }
  });

  it('have the same keys in every language, none empty, with the same {{placeholders}}', () => {
    for (const lang of ['ko', 'zh-TW'] as const) {
      const missing = [...flat.en.keys()].filter((k) => !flat[lang].has(k));
      const extra = [...flat[lang].keys()].filter((k) => !flat.en.has(k));
      assert.deepEqual(missing, [], `${lang} lacks keys`);
      assert.deepEqual(extra, [], `${lang} has keys English lacks`);
    }
    for (const lang of LANGS) {
      for (const [key, value] of flat[lang]) {
        assert.equal(typeof value, 'string', `${lang}: ${key}`);
        assert.ok((value as string).trim() !== '', `${lang}: ${key} is empty`);
        assert.deepEqual(placeholders(value as string), placeholders(flat.en.get(key) as string), `${lang}: ${key} has the placeholders of English`);
      }
    }
  });

  it('have every key the views use: literal t(\'…\') calls, and the families built at run time', () => {
    const views = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? views(path.join(dir, e.name)) : e.name.endsWith('.ejs') ? [path.join(dir, e.name)] : []));
    const used = new Set<string>();
    for (const file of views(path.join(root, 'views'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bt\(\s*'([^']+)'\s*[,)]/g)) used.add(m[1]!);
    }
    assert.ok(used.size > 150, `found ${used.size} keys in the views`);
    // Message keys of the form schemas (errors.*), shown by field-error.ejs and error-summary.ejs.
    for (const file of ['src/features/delist/schema.ts', 'src/features/report/schema.ts', 'src/features/report/routes.ts', 'src/features/unblock/routes.ts', 'src/features/pools/routes.ts']) {
      for (const m of readFileSync(path.join(root, file), 'utf8').matchAll(/'(errors\.[\w.-]+[\w])'/g)) used.add(m[1]!);
    }
    const policy = loadPolicy();
    const families = [
      ...Object.keys(STATE_LABELS).flatMap((s) => [`state.${s}.label`, `state.${s}.next`]),
      ...Object.keys(policy.categories).map((c) => `category.${c}`),
      ...CATEGORIES.map((c) => `report.category.${c}`),
      ...['normal', 'high-risk', 'relay'].map((p) => `pools.name.${p}`),
      ...['arf', 'arf-draft', 'xarf', 'xarf-json', 'spamcop', 'jmrp', 'forwarded', 'message', 'headers'].map((f) => `report.summary.formats.${f}`),
      ...['own-network', 'not-listed', 'unknown-category', 'staff-only-category', 'budget-used', 'delisted', 'report-counted', 'report-counted-escalated', 'report-duplicate', 'report-evidence', 'staff-delisted', 'unblock-approved'].map((c) => `reason.${c}`),
      ...['NOT_FOUND', 'LINK_USED', 'LINK_EXPIRED', 'DRAFT_GONE', 'CSRF_INVALID', 'RATE_LIMITED', 'PAYLOAD_TOO_LARGE', 'VALIDATION_FAILED', 'UNAVAILABLE', 'NotOurMail', 'NotOurMailNoHops', 'INTERNAL'].map((c) => `error.${c}`),
      ...['400', '401', '403', '404', '410', '413', '415', '429', '503', 'default'].map((s) => `error.title.${s}`),
      ...['invalid', 'zone', 'host-bits', 'prefix', 'brackets', 'leading-zeros'].map((r) => `errors.ip.${r}`),
      ...['private', 'loopback', 'link-local', 'multicast', 'unspecified', 'shared', 'unique-local', 'broadcast', 'reserved', 'other'].map((n) => `errors.ip.special.${n}`),
      ...['BINARY', 'NOT_A_MESSAGE', 'TOO_DEEP'].map((c) => `errors.sample.${c}`),
      ...['update', 'need-info', 'resolved'].flatMap((u) => [`mail.staffReply.subject.${u}`, `mail.staffReply.intro.${u}`]),
      ...['delist.awaiting_confirmation', 'delist.queued', 'report.awaiting_confirmation', 'report.queued', 'report.received', 'unblock.awaiting_confirmation', 'unblock.needs_review'].map((s) => `timeline.${s}`),
      ...['domainsRegistered', 'connectorsReviewed', 'serversLockedDown'].map((n) => `unblock.form.check.${n}`),
      ...['yes', 'no', 'unknown'].map((v) => `common.${v}`),
    ];
    const missing = [...used, ...families].filter((k) => typeof flat.en.get(k) !== 'string');
    assert.deepEqual(missing, [], 'keys used but missing from en.json');
  });

  it('keep the English wording the rest of the suite and the old pages relied on', () => {
    assert.equal(text('en', 'state.awaiting_confirmation.label'), STATE_LABELS.awaiting_confirmation.label);
    for (const [state, l] of Object.entries(STATE_LABELS)) {
      assert.equal(text('en', `state.${state}.label`), l.label);
      assert.equal(text('en', `state.${state}.next`), l.next);
    }
    const policy = loadPolicy();
    for (const [name, c] of Object.entries(policy.categories)) assert.equal(text('en', `category.${name}`), c.reason);
  });
});

describe('mails in the requester\'s language', () => {
  const publicUrl = 'http://portal.test';
  const confirmUrl = `${publicUrl}/delist/confirm/${'x'.repeat(43)}`;
  const statusUrl = `${publicUrl}/status/AAAAAAAAAAAAAAAA`;
  const kinds: Array<{ name: string; data: Record<string, unknown>; subject: (l: Lang) => string; body: (l: Lang) => string[] }> = [
    {
      name: 'delist-challenge',
      data: { ip: '198.51.100.23', ttlMinutes: 60, confirmUrl, publicUrl },
      subject: (l) => text(l, 'mail.delistChallenge.subject', { ip: '198.51.100.23' }),
      body: (l) => [text(l, 'mail.delistChallenge.open', { minutes: 60 }), text(l, 'mail.ignoreChange')],
    },
    {
      name: 'delist-result',
      data: { ip: '198.51.100.23', state: 'needs_review', stateLabel: 'Needs review by our staff', reason: 'This IP address has used all 3 self-delists allowed in 30 days; our support staff will review your request.', hasReason: true, reasonCode: 'budget-used', reasonParams: { max: 3, days: 30 }, statusUrl, publicUrl },
      subject: (l) => text(l, 'mail.delistResult.subject', { ip: '198.51.100.23', state: text(l, 'state.needs_review.label') }),
      body: (l) => [text(l, 'mail.delistResult.result', { state: text(l, 'state.needs_review.label') }), l === 'en' ? 'used all 3 self-delists' : text(l, 'reason.budget-used', { max: 3, days: 30 })],
    },
    {
      name: 'report-challenge',
      data: { ip: '203.0.113.10', ttlMinutes: 60, confirmUrl, publicUrl },
      subject: (l) => text(l, 'mail.reportChallenge.subject'),
      body: (l) => [text(l, 'mail.reportChallenge.intro', { ip: '203.0.113.10' }), text(l, 'mail.reportChallenge.open', { minutes: 60 })],
    },
    {
      name: 'report-ack',
      data: { ip: '203.0.113.10', state: 'received', stateLabel: 'Received', reason: 'Counted against tenant tenant-d (1 distinct in 24 h) and added to case case-1.', hasReason: true, reasonCode: 'report-counted', reasonParams: { inWindow: 1, hours: 24, caseId: 'case-1', canonicalId: 'r1' }, statusUrl, publicUrl },
      subject: (l) => text(l, 'mail.reportAck.subject', { state: text(l, 'state.received.label') }),
      body: (l) => [text(l, 'mail.reportAck.thanks', { ip: '203.0.113.10' }), text(l, 'reason.report-counted', { inWindow: 1, hours: 24 })], // every language from the key: the stored English names the case (issue 13)
    },
    {
      name: 'unblock-challenge',
      // No tenant: to an address that has not confirmed, our fixed text and the link only (issue 13 review).
      data: { ip: '', ttlMinutes: 60, confirmUrl, publicUrl },
      subject: (l) => text(l, 'mail.unblockChallenge.subjectPlain'),
      body: (l) => [text(l, 'mail.unblockChallenge.introPlain'), text(l, 'mail.unblockChallenge.open', { minutes: 60 })],
    },
    {
      name: 'staff-reply',
      data: { ip: '', update: 'need-info', text: 'Which mail server software do you run?', statusUrl, kind: 'delist', publicUrl },
      subject: (l) => text(l, 'mail.staffReply.subject.need-info'),
      body: (l) => [text(l, 'mail.staffReply.intro.need-info'), 'Which mail server software do you run?', text(l, 'mail.supportSignature')],
    },
  ];

  const unwrap = (s: string) => s.replace(/\s+/g, ' ');
  for (const kind of kinds) {
    it(`renders ${kind.name} in ko and zh-TW (and unchanged English), with short lines and the link on its own line`, async () => {
      for (const lang of ['ko', 'zh-TW', 'en'] as const) {
        const mail = await renderMail(kind.name, 'someone@example.org', kind.data, lang);
        assert.equal(mail.subject, kind.subject(lang), `${lang} subject`);
        assert.ok(!/[\r\n]/.test(mail.subject));
        const body = unwrap(mail.text);
        assert.ok(body.startsWith(text(lang, 'mail.hello')), `${lang} greeting`);
        for (const part of kind.body(lang)) assert.ok(body.includes(unwrap(part)), `${lang} ${kind.name} body has: ${part}\n---\n${mail.text}`);
        const url = String(kind.data.confirmUrl ?? kind.data.statusUrl);
        assert.ok(mail.text.split('\n').includes(url), `${lang}: the link has a line of its own`);
        for (const line of [...mail.text.split('\n'), ...mail.html!.split('\n')]) assert.ok(line.length <= 998, `${lang}: a line of ${line.length} characters`);
        assert.match(mail.html!, new RegExp(`<html lang="${lang}">`));
        assert.ok(mail.html!.includes(escapeHtml(text(lang, 'mail.hello'))));
        if (lang !== 'en') assert.doesNotMatch(mail.text, /^Hello,$/m);
      }
    });
  }

  it('keeps the English mails worded as before', async () => {
    const challenge = await renderMail('delist-challenge', 'a@example.org', kinds[0]!.data, 'en');
    assert.equal(challenge.subject, 'Confirm the delisting request for 198.51.100.23');
    assert.match(unwrap(challenge.text), /^Hello, Someone, probably you, asked Postmaster Portal to remove the IP address 198\.51\.100\.23 from our blocked-senders list/);
    const result = await renderMail('delist-result', 'a@example.org', { ...kinds[1]!.data, state: 'delisted', stateLabel: 'Delisted' }, 'en');
    assert.equal(result.subject, 'Your delisting request for 198.51.100.23: Delisted');
    assert.match(result.text, /Result: Delisted/);
  });

  it('never lets a value interpolate or reach the HTML unescaped', async () => {
    // (The report and unblock challenges used to carry the sample's subject and the typed tenant; to an address that
    // has not confirmed they carry neither now, so the check takes a result's reason parameters, values that still
    // go through a translation's parameters.)
    const mail = await renderMail('delist-result', 'a@example.org', { ...kinds[1]!.data, reasonParams: { max: '<b>{{ip}}</b> $t(site.name)', days: 30 } }, 'ko');
    assert.ok(unwrap(mail.text).includes('<b>{{ip}}</b> $t(site.name)'), mail.text);
    assert.ok(mail.html!.includes('&lt;b&gt;{{ip}}&lt;/b&gt; $t(site.name)'), mail.html);
  });
});
