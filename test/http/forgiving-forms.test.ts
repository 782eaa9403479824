import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { translator } from '../../src/i18n/index.js';
import type { Policy } from '../../src/policy.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { challengeToken, requestIdsAt, storedRequestIds } from '../helpers/portal.js';

type App = ReturnType<typeof createApp>;
type Limits = Policy['rateLimits'];
const LANGS = ['en', 'ko', 'zh-TW'] as const;
const roomy = { max: 1000, windowMinutes: 60 };
const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;');
const count = (text: string, part: string) => text.split(part).length - 1;

/** The per-client limits as shipped (src/policy.json), every other limit out of the way. */
function portal(limits: Partial<Limits> = {}): TestContext {
  return testContext({
    policy: (p) => ({
      ...p,
      challenge: { ...p.challenge, resendCooldownSeconds: 0 },
      rateLimits: {
        ...(Object.fromEntries(Object.keys(p.rateLimits).map((k) => [k, roomy])) as Limits),
        ...(['delistPerClientIp', 'reportPerClientIp', 'lookupPerClientIp', 'confirmPerClientIp'] as const).reduce((acc, k) => ({ ...acc, [k]: p.rateLimits[k] }), {}),
        ...limits,
      },
    }),
  });
}

/** Typos a person makes: a mistyped address, an IP with a letter, a missing field, an address from the LAN. */
const DELIST_TYPOS: Array<Record<string, string>> = [
  { email: 'jane@example', ip: '198.51.100.60' },
  { email: 'jane@example.org', ip: '198.51.100.6o' },
  { email: 'jane@example.org' },
  { ip: '198.51.100.60' },
  { email: 'jane@example.org', ip: '192.168.1.20' },
  { email: 'jane example.org', ip: '198.51.100.60' },
];
const UNBLOCK = { tenant: 'tenant-forgiving', email: 'ops@tenant.example', domainsRegistered: 'on', connectorsReviewed: 'on', serversLockedDown: 'on', evidence: 'We removed the open connector and rotated every credential.' };
const UNBLOCK_TYPOS: Array<Record<string, string>> = [
  { ...UNBLOCK, email: 'ops@tenant' },
  { ...UNBLOCK, evidence: 'fixed' },
  { ...UNBLOCK, tenant: '' },
  { ...UNBLOCK, serversLockedDown: '' },
];

describe('issue 16: a typo never counts against a rate limit', () => {
  let ctx: TestContext;
  let app: App;
  before(() => {
    ctx = portal();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('30 refused delist forms from one client (limit 20 per 10 minutes) do not keep its valid one out', async () => {
    assert.equal(ctx.policy.rateLimits.delistPerClientIp.max, 20);
    const agent = request.agent(app);
    const csrf = csrfOf(await agent.get('/delist'));
    const post = (fields: Record<string, string>) => agent.post('/delist').set('X-Forwarded-For', '192.0.2.70').type('form').send({ _csrf: csrf, ...fields });
    for (let i = 0; i < 30; i++) assert.equal((await post(DELIST_TYPOS[i % DELIST_TYPOS.length]!)).status, 400, `typo ${i}`);
    assert.equal((await post({ email: 'jane@example.org', ip: '198.51.100.60' })).status, 303);
    assert.deepEqual(await ctx.redis.keys(ctx.keys.rateLimit('delist-client') + '*'), [ctx.keys.rateLimit('delist-client') + '192.0.2.70']);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('delist-client') + '192.0.2.70'), '1', 'only the accepted form counted');
  });

  it('30 refused unblock forms do not keep the valid one out', async () => {
    const agent = request.agent(app);
    const csrf = csrfOf(await agent.get('/unblock'));
    const post = (fields: Record<string, string>) => agent.post('/unblock').set('X-Forwarded-For', '192.0.2.71').type('form').send({ _csrf: csrf, ...fields });
    for (let i = 0; i < 30; i++) assert.equal((await post(UNBLOCK_TYPOS[i % UNBLOCK_TYPOS.length]!)).status, 400, `typo ${i}`);
    assert.equal((await post(UNBLOCK)).status, 303);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('unblock-client') + '192.0.2.71'), '1');
  });

  it('30 refused report forms (read, then given back) do not keep the valid one out', async () => {
    assert.equal(ctx.policy.rateLimits.reportPerClientIp.max, 20);
    const agent = request.agent(app);
    const csrf = csrfOf(await agent.get('/report'));
    const sample = messageFromTenant({ tenant: 'tenant-forgiving', messageId: '<forgiving-1@shop.example.com>' });
    const post = (fields: Record<string, string>) => {
      let req = agent.post('/report').set('X-Forwarded-For', '192.0.2.72').field('_csrf', csrf);
      for (const [k, v] of Object.entries(fields)) req = req.field(k, v);
      return req;
    };
    const typos = [
      { email: 'reporter@example', category: 'spam', comment: '', raw: sample },
      { email: 'reporter@example.org', category: 'spam', comment: '', raw: '' },
      { email: '', category: 'spam', comment: '', raw: sample },
    ];
    for (let i = 0; i < 30; i++) assert.equal((await post(typos[i % typos.length]!)).status, 400, `typo ${i}`);
    assert.equal((await post({ email: 'reporter@example.org', category: 'spam', comment: '', raw: sample })).status, 303);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('report-client') + '192.0.2.72'), '1');
  });

  it('70 lookups of a mistyped address (limit 60 a minute) do not keep the real lookup out; the bare form counts nothing', async () => {
    assert.equal(ctx.policy.rateLimits.lookupPerClientIp.max, 60);
    const lookup = (q: string) => request(app).get(`/lookup${q}`).set('X-Forwarded-For', '192.0.2.73');
    for (let i = 0; i < 70; i++) assert.equal((await lookup(i % 2 ? '?ip=198.51.100.1.' : '?ip=10.0.0.1')).status, 400);
    for (let i = 0; i < 5; i++) assert.equal((await lookup('')).status, 200);
    assert.equal((await lookup('?ip=198.51.100.1')).status, 200);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('lookup-client') + '192.0.2.73'), '1');
  });

  it('40 confirmation links cut short (limit 30) do not keep the whole link out; a well-formed unknown one counts', async () => {
    const now = new Date();
    await requestDelist(ctx, { email: 'cut@example.org', ip: '198.51.100.61' }, now);
    const token = await challengeToken(ctx, (await requestIdsAt(ctx, now))[0]!);
    const get = (t: string) => request(app).get(`/delist/confirm/${t}`).set('X-Forwarded-For', '192.0.2.74');
    for (let i = 0; i < 40; i++) assert.equal((await get(token.slice(0, 10 + (i % 30)))).status, 404);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('confirm-client') + '192.0.2.74'), null);
    assert.equal((await get(token)).status, 200);
    assert.equal((await get('B'.repeat(43))).status, 404);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('confirm-client') + '192.0.2.74'), '2', 'real-looking links count (guessing)');
  });
});

describe('issue 16: a limit says the wait once, in minutes, in the visitor\'s language, and keeps the form', () => {
  let ctx: TestContext;
  let app: App;
  before(() => {
    ctx = portal({ delistPerClientIp: { max: 1, windowMinutes: 9 }, unblockPerEmail: { max: 1, windowMinutes: 9 }, statusPerClientIp: { max: 1, windowMinutes: 9 } });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  /** The wait sentence in `lang` for the Retry-After of `res`, checked to be minutes rounded up. */
  function waitSentence(lang: (typeof LANGS)[number], res: { headers: Record<string, string> }): string {
    const seconds = Number(res.headers['retry-after']);
    assert.ok(seconds > 8 * 60 && seconds <= 9 * 60, `Retry-After ${seconds}`);
    return translator(lang)('live.limit.wait', { minutes: 9 });
  }
  // What the pages said before (issue 16): "… wait 524 seconds … | … in 524 seconds.", "524초", "524 秒".
  const noSeconds = (text: string, lang: string) => assert.doesNotMatch(text, /\d+\s*(seconds|초|秒)/, `${lang}: no wait in seconds`);

  for (const lang of LANGS) {
    it(`the delist form, ${lang}: "about 9 minutes" once, the form with what was typed`, async () => {
      const from = `192.0.2.${80 + LANGS.indexOf(lang)}`;
      const agent = request.agent(app);
      const csrf = csrfOf(await agent.get('/delist').set('Accept-Language', lang));
      const post = (fields: Record<string, string>) => agent.post('/delist').set('X-Forwarded-For', from).set('Accept-Language', lang).type('form').send({ _csrf: csrf, ...fields });
      assert.equal((await post({ email: 'first@example.org', ip: '198.51.100.62' })).status, 303);
      const stored = (await storedRequestIds(ctx)).length;
      const res = await post({ email: 'second@example.org', ip: '198.51.100.63' });
      assert.equal(res.status, 429);
      const sentence = escapeHtml(waitSentence(lang, res));
      assert.equal(count(res.text, sentence), 1, `${lang}: the wait is said once`);
      assert.ok(res.text.includes(escapeHtml(translator(lang)('live.limit.kept'))));
      assert.match(res.text, /<html lang="[^"]+"/);
      assert.ok(res.text.includes(`<html lang="${lang}">`));
      assert.match(res.text, /value="second@example\.org"/);
      assert.match(res.text, /value="198\.51\.100\.63"/);
      assert.match(res.text, /<form method="post" action="\/delist"/);
      noSeconds(res.text, lang);
      assert.equal((await storedRequestIds(ctx)).length, stored, 'nothing stored for the refused form');
    });

    it(`the unblock form (a per-email limit), ${lang}: once, in minutes, form kept`, async () => {
      const email = `ops-${lang.toLowerCase()}@tenant.example`;
      let n = 0;
      const agent = request.agent(app);
      const csrf = csrfOf(await agent.get('/unblock'));
      // Each from its own client (the client limit of this context is 1): the email's limit answers.
      const post = () => agent.post('/unblock').set('X-Forwarded-For', `192.0.2.${110 + LANGS.indexOf(lang) * 2 + n++}`).set('Accept-Language', lang).type('form').send({ _csrf: csrf, ...UNBLOCK, email });
      assert.equal((await post()).status, 303);
      const res = await post();
      assert.equal(res.status, 429);
      assert.equal(count(res.text, escapeHtml(waitSentence(lang, res))), 1);
      assert.ok(res.text.includes(`value="${email}"`));
      assert.ok(res.text.includes('We removed the open connector and rotated every credential.'));
      noSeconds(res.text, lang);
    });

    it(`the error page of a limit without a form (status), ${lang}: once, in minutes`, async () => {
      const from = `192.0.2.${90 + LANGS.indexOf(lang)}`;
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA').set('X-Forwarded-For', from).set('Accept-Language', lang)).status, 404);
      const res = await request(app).get('/status/AAAAAAAAAAAAAAAA').set('X-Forwarded-For', from).set('Accept-Language', lang);
      assert.equal(res.status, 429);
      assert.equal(count(res.text, escapeHtml(waitSentence(lang, res))), 1);
      assert.ok(res.text.includes(escapeHtml(translator(lang)('error.title.429'))));
      noSeconds(res.text, lang);
    });
  }

  it('says "about a minute" for a wait of a minute or less, in the form kept (lookup)', async () => {
    const short = portal({ lookupPerClientIp: { max: 1, windowMinutes: 1 } });
    try {
      const shortApp = createApp(short);
      for (const lang of LANGS) {
        const from = `192.0.2.${100 + LANGS.indexOf(lang)}`;
        const lookup = () => request(shortApp).get('/lookup?ip=198.51.100.64').set('X-Forwarded-For', from).set('Accept-Language', lang);
        assert.equal((await lookup()).status, 200);
        const res = await lookup();
        assert.equal(res.status, 429);
        assert.ok(Number(res.headers['retry-after']) <= 60);
        assert.equal(count(res.text, escapeHtml(translator(lang)('live.limit.waitOne'))), 1);
        assert.match(res.text, /value="198\.51\.100\.64"/);
        noSeconds(res.text, lang);
      }
    } finally {
      await short.cleanup();
    }
  });
});
