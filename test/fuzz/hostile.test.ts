import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { storedRequestIds } from '../helpers/portal.js';

const roomy = { max: 1_000_000, windowMinutes: 1 };
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

/** Strings an attacker would try: unicode, control characters, markup, SQL/template syntax, huge or empty values. */
const hostile = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' OR 1=1 --", '{{7*7}}', '<%= process.exit() %>', '../../etc/passwd', '\u0000', '\r\nSet-Cookie: x=y', 'a'.repeat(20_000), '::ffff:10.0.0.1', '0x7f.1', '١٢٣.١.١.١', '[]', '{}'),
);

describe('hostile input never makes a 5xx, a crash or a half-stored request', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  let token: string;
  before(async () => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: Object.fromEntries(Object.keys(p.rateLimits).map((k) => [k, roomy])) as typeof p.rateLimits, challenge: { ...p.challenge, resendCooldownSeconds: 0 }, staff: { ...p.staff, loginPerClientIp: roomy } }) });
    app = createApp(ctx);
    token = await ctx.apiTokens.create('fuzz');
  });
  after(() => ctx.cleanup());

  const stored = () => storedRequestIds(ctx).then((ids) => ids.length);

  it('POST /delist with arbitrary fields: never 5xx; a refused one stores nothing', async () => {
    const agent = request.agent(app);
    const csrf = csrfOf(await agent.get('/delist'));
    await fc.assert(
      fc.asyncProperty(hostile, hostile, fc.dictionary(fc.string({ maxLength: 10 }), hostile, { maxKeys: 3 }), async (email, ip, extra) => {
        const before = await stored();
        const res = await agent.post('/delist').type('form').send({ ...extra, email, ip, _csrf: csrf });
        assert.ok(res.status < 500, `status ${res.status}`);
        if (res.status >= 400) assert.equal(await stored(), before);
        assert.doesNotMatch(res.text, /<script>alert\(1\)|<img src=x onerror/);
      }),
      { numRuns: RUNS },
    );
  });

  it('GET pages with arbitrary path parameters, query strings and headers: never 5xx, never an echo', async () => {
    await fc.assert(
      fc.asyncProperty(hostile, hostile, hostile, async (param, query, header) => {
        const safeHeader = header.replace(/[^\t\x20-\x7e]/g, '').slice(0, 500);
        for (const url of [`/status/${encodeURIComponent(param)}`, `/delist/confirm/${encodeURIComponent(param)}`, `/report/confirm/${encodeURIComponent(param)}`, `/lookup?ip=${encodeURIComponent(query)}`, `/delist?ip=${encodeURIComponent(query)}&email=${encodeURIComponent(param)}`, `/?lang=${encodeURIComponent(query)}`]) {
          const res = await request(app).get(url).set('Accept-Language', safeHeader).set('Accept', safeHeader || '*/*').set('Cookie', `pm_lang=${encodeURIComponent(query)}; pm_vid=${encodeURIComponent(param)}`);
          assert.ok(res.status < 500, `${url} → ${res.status}`);
          assert.doesNotMatch(res.text, /<script>alert\(1\)|<img src=x onerror/);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('POST /api/v1/reports with arbitrary bytes and content types: never 5xx, refusals store nothing', async () => {
    const base = Buffer.from(messageFromTenant({ tenant: 'fuzz-t', messageId: '<f@x.example>' }));
    const mutated = fc.tuple(fc.nat({ max: base.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([at, bytes]) => Buffer.concat([base.subarray(0, at), Buffer.from(bytes), base.subarray(at)]));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 4000 }).map((b) => Buffer.from(b)), hostile.map((s) => Buffer.from(s)), mutated), fc.constantFrom('message/rfc822', 'text/plain', 'application/json', 'multipart/report; report-type=feedback-report; boundary=x', 'application/octet-stream'), async (body, type) => {
        const before = await stored();
        const res = await request(app).post('/api/v1/reports').set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(body);
        assert.ok(res.status < 500, `status ${res.status}: ${res.text.slice(0, 200)}`);
        if (res.status >= 400) assert.equal(await stored(), before);
        else assert.equal(res.status, 202);
      }),
      { numRuns: RUNS },
    );
  });

  /** The records a report form can write: requests and drafts (PostgreSQL, issue 14). */
  const storedKeys = async () => ({
    requests: await storedRequestIds(ctx),
    drafts: (await ctx.db.selectFrom('report_drafts').select('id').orderBy('id').execute()).map((d) => d.id),
  });

  it('POST /report uploads with arbitrary files and fields: never 5xx, refusals store nothing', async () => {
    const agent = request.agent(app);
    const csrf = csrfOf(await agent.get('/report'));
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), hostile, hostile, async (file, email, category) => {
        const before = await storedKeys();
        const res = await agent.post('/report').field('_csrf', csrf).field('email', email.slice(0, 1000) || 'x').field('category', category.slice(0, 100) || 'x').attach('sample', Buffer.from(file), 'x.eml');
        assert.ok(res.status < 500, `status ${res.status}`);
        if (res.status >= 400) assert.deepEqual(await storedKeys(), before, 'a refused form stores nothing');
      }),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('follows no redirect off the site: the login `next` always stays under /staff', async () => {
    await ctx.staff.add('redir@example.net', 'viewer', 'correct horse battery staple');
    await fc.assert(
      fc.asyncProperty(hostile, async (next) => {
        const agent = request.agent(app);
        const csrf = csrfOf(await agent.get('/staff/login'));
        const res = await agent.post('/staff/login').type('form').send({ _csrf: csrf, email: 'redir@example.net', password: 'correct horse battery staple', next });
        assert.ok(res.status === 303 || (res.status >= 400 && res.status < 500), `status ${res.status}`);
        if (res.status !== 303) return;
        assert.match(res.headers.location ?? '', /^\/staff(\/|$|\?)/);
        assert.doesNotMatch(res.headers.location ?? '', /\/\/|\.\./);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});

describe('pages carry no inline script', () => {
  it('has no <script> block (only same-origin script files), inline event handler or javascript: URL in any view', () => {
    const views = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? views(path.join(dir, e.name)) : e.name.endsWith('.ejs') ? [path.join(dir, e.name)] : []));
    for (const file of views('views').filter((f) => !f.includes(`${path.sep}emails${path.sep}`))) {
      const text = readFileSync(file, 'utf8');
      // Only our own script files (CSP script-src 'self'), never a script block.
      assert.doesNotMatch(text.replace(/<script src="\/[a-z0-9-]+(\/[a-z0-9][a-z0-9.-]*)*\.js" defer><\/script>/g, ''), /<script/i, file);
      assert.doesNotMatch(text, /\son[a-z]+\s*=/i, file);
      assert.doesNotMatch(text, /javascript:/i, file);
      assert.doesNotMatch(text, /\sstyle\s*=/i, file);
    }
  });

  it('sends a CSP whose scripts come only from the site itself', async () => {
    const ctx = testContext();
    try {
      const res = await request(createApp(ctx)).get('/delist');
      const csp = res.headers['content-security-policy'] ?? '';
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
    } finally {
      await ctx.cleanup();
    }
  });
});
