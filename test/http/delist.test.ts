import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { securityHeaders } from '../../src/http/security.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { relayOutbox, storedRequestIds } from '../helpers/portal.js';
import { newId } from '../../src/stores/requests.js';

const roomy = { max: 1000, windowMinutes: 10 };

describe('POST /delist', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;

  before(() => {
    ctx = testContext({
      policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, delistPerClientIp: roomy, delistPerEmail: roomy, delistPerTargetIp: roomy } }),
    });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  /** Opens the form in a fresh browser-like agent and posts it. */
  async function submit(fields: Record<string, string>) {
    const agent = request.agent(app);
    const form = await agent.get('/delist').expect(200);
    return agent.post('/delist').type('form').send({ _csrf: csrfOf(form), ...fields });
  }
  const stored = () => storedRequestIds(ctx).then((ids) => ids.length);
  const mailJobs = async () => {
    await relayOutbox(ctx);
    return ctx.jobs.mail.getJobCountByTypes('waiting', 'delayed', 'active', 'completed', 'failed');
  };

  it('shows a form whose every field has a label and a hint', async () => {
    const res = await request(app).get('/delist').expect(200).expect('content-type', /html/);
    for (const name of ['email', 'ip']) {
      assert.match(res.text, new RegExp(`<label for="${name}">`));
      assert.match(res.text, new RegExp(`id="${name}" name="${name}"`));
    }
    assert.match(res.text, /name="_csrf" value="[^"]+"/);
  });

  it('answers listed and unlisted IPs with the same neutral redirect, and mails a challenge for both', async () => {
    await addListing(ctx, { target: '198.51.100.23', category: 'spam-source', source: 'test', by: 'test' });
    const listed = await submit({ email: 'Owner@Example.com', ip: '198.51.100.23' });
    const unlisted = await submit({ email: 'owner@example.com', ip: '198.51.100.99' });
    for (const res of [listed, unlisted]) {
      assert.equal(res.status, 303);
      assert.equal(res.headers.location, '/delist/sent');
    }
    assert.equal(await stored(), 2);
    assert.equal(await mailJobs(), 2);
    const page = await request(app).get('/delist/sent').expect(200);
    assert.match(page.text, /Check your email/);
  });

  it('sends every security header on the redirect and the form, as helmet itself would set them', async () => {
    const names = ['content-security-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'origin-agent-cluster', 'referrer-policy', 'x-content-type-options', 'x-dns-prefetch-control', 'x-download-options', 'x-frame-options', 'x-permitted-cross-domain-policies', 'x-xss-protection'];
    const redirect = await submit({ email: 'headers@example.com', ip: '198.51.100.77' });
    const form = await request(app).get('/delist').expect(200);
    for (const res of [redirect, form]) {
      for (const name of names) assert.ok(res.headers[name], `${name} missing on ${res.status}`);
      assert.match(res.headers['content-security-policy']!, /script-src 'self'/);
      assert.doesNotMatch(res.headers['content-security-policy']!, /unsafe-inline/);
      assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN');
      assert.equal(res.headers['x-powered-by'], undefined);
      assert.equal(res.headers['strict-transport-security'], undefined); // plain http in tests: no HSTS
    }
  });

  it('sends the security headers on the errors of the form too (a 400 page, a refused CSRF token), and no Vary on a POST', async () => {
    const names = ['content-security-policy', 'x-frame-options', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy'];
    const invalid = await submit({ email: 'nobody', ip: '198.51.100.5' });
    const forged = await request(app).post('/delist').type('form').send({ _csrf: 'forged.token', email: 'a@example.com', ip: '198.51.100.5' });
    const redirect = await submit({ email: 'vary@example.com', ip: '198.51.100.78' });
    assert.equal(invalid.status, 400);
    assert.equal(forged.status, 403);
    for (const res of [invalid, forged]) {
      for (const name of names) assert.ok(res.headers[name], `${name} missing on ${res.status}`);
      assert.match(res.text, /<html/i);
    }
    // A POST answer is never cached, so it does not say it varies by language; the form (a GET) does.
    assert.doesNotMatch(redirect.headers.vary ?? '', /Accept-Language/);
    assert.match((await request(app).get('/delist')).headers.vary ?? '', /Accept-Language/);
  });

  it('writes each security header once, and keeps a value a route set itself', async () => {
    const raw = (port: number, path: string, method = 'GET') =>
      new Promise<string>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
          resolve(res.rawHeaders.filter((_, i) => i % 2 === 0).join('\n').toLowerCase());
          res.resume();
        });
        req.on('error', reject).end();
      });
    const own = express();
    own.disable('x-powered-by');
    own.use(securityHeaders(false));
    own.get('/own', (_req, res) => res.set('X-Frame-Options', 'DENY').send('x'));
    own.get('/bare', (_req, res) => void res.writeHead(303, ['Location', '/x', 'Content-Length', '0']).end());
    // A route's own head that names a security header: its value wins there too.
    own.get('/named', (_req, res) => void res.writeHead(200, ['Referrer-Policy', 'same-origin', 'Content-Length', '0']).end());
    const server = own.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    try {
      assert.equal((await request(server).get('/own')).headers['x-frame-options'], 'DENY');
      const named = await request(server).get('/named');
      assert.equal(named.headers['referrer-policy'], 'same-origin');
      assert.ok(named.headers['content-security-policy']);
      for (const path of ['/own', '/bare', '/named']) {
        const names = (await raw(port, path)).split('\n');
        assert.equal(names.filter((n) => n === 'x-frame-options').length, 1, `${path}: ${names.join(', ')}`);
        assert.equal(names.filter((n) => n === 'referrer-policy').length, 1, `${path}: ${names.join(', ')}`);
        assert.equal(new Set(names).size, names.length, `${path} repeats a header: ${names.join(', ')}`);
      }
      const bare = await request(server).get('/bare').redirects(0);
      assert.equal(bare.status, 303);
      assert.equal(bare.headers.location, '/x');
      assert.equal(bare.headers['content-length'], '0');
      assert.equal(bare.headers['x-frame-options'], 'SAMEORIGIN');
    } finally {
      server.close();
    }
  });

  it('adds HSTS and upgrade-insecure-requests when the portal is served over https', async () => {
    const secure = express();
    secure.use(securityHeaders(true));
    secure.get('/', (_req, res) => res.send('x'));
    const res = await request(secure).get('/').expect(200);
    assert.match(res.headers['strict-transport-security'] ?? '', /max-age=\d+/);
    assert.match(res.headers['content-security-policy'] ?? '', /upgrade-insecure-requests/);
  });

  it('makes the challenge with the request (issue 14): right after the form, before any worker ran, its link works', async () => {
    await submit({ email: 'later@example.com', ip: '198.51.100.79' });
    const id = (await storedRequestIds(ctx)).at(-1)!;
    const made = (await ctx.requests.get(id))!;
    assert.equal(made.email, 'later@example.com');
    const check = await ctx.challenges.check(ctx.challenges.tokenFor(made.challengeId));
    assert.equal(check.status, 'valid');
    assert.equal('requestId' in check && check.requestId, id);
  });

  it("refuses another flow's confirmation link under /delist/confirm/ as unknown, using nothing up (all flows share the challenges table)", async () => {
    for (const type of ['unblock', 'report'] as const) {
      const id = newId();
      const at = new Date().toISOString();
      const challengeId = newId(16);
      const other = { id, type, state: 'awaiting_confirmation' as const, email: `${type}@example.com`, ip: type === 'report' ? '192.0.2.10' : '', ...(type === 'unblock' && { tenant: 'acme' }), createdAt: at, updatedAt: at, challengeId };
      await ctx.requests.createWithChallengeAndJob(ctx.db, other, 'Request received.', { id: challengeId, tokenHash: ctx.challenges.tokenHashFor(challengeId), expiresAt: new Date(Date.now() + 3_600_000) }, ctx.jobs.mailIntent(`${type}-challenge`, id));
      const token = ctx.challenges.tokenFor(challengeId);
      const agent = request.agent(app);
      const page = await agent.get(`/delist/confirm/${token}`).expect(404);
      assert.match(page.text, /not valid/);
      assert.doesNotMatch(page.text, new RegExp(`${type}@example.com|192\\.0\\.2\\.10`));
      const form = await agent.get('/delist').expect(200);
      await agent.post(`/delist/confirm/${token}`).type('form').send({ _csrf: csrfOf(form) }).expect(404);
      assert.equal((await ctx.requests.get(id))!.state, 'awaiting_confirmation', `the ${type} request did not move`);
      assert.equal((await ctx.challenges.check(token)).status, 'valid', `the ${type} link still works in its own flow`);
    }
  });

  it('sends no second challenge for the same email and IP within the cool-down, with the same answer', async () => {
    const before = await mailJobs();
    const first = await submit({ email: 'cool@example.com', ip: '203.0.113.200' });
    const second = await submit({ email: 'cool@example.com', ip: '203.0.113.200' });
    assert.equal(first.status, 303);
    assert.equal(second.status, 303);
    assert.equal(second.headers.location, first.headers.location);
    assert.equal((await mailJobs()) - before, 1);
  });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['a private address', { email: 'a@example.com', ip: '10.1.2.3' }, /private/i],
    ['loopback', { email: 'a@example.com', ip: '127.0.0.1' }, /loopback/i],
    ['link-local', { email: 'a@example.com', ip: 'fe80::1' }, /link-local/i],
    ['multicast', { email: 'a@example.com', ip: '224.0.0.5' }, /multicast/i],
    ['the unspecified address', { email: 'a@example.com', ip: '::' }, /unspecified/i],
    ['shared address space (CGNAT)', { email: 'a@example.com', ip: '100.64.1.1' }, /shared|carrier/i],
    ['an IPv4-mapped private address', { email: 'a@example.com', ip: '::ffff:192.168.0.1' }, /private/i],
    ['a range instead of an address', { email: 'a@example.com', ip: '198.51.100.0/24' }, /not a valid|valid IP/i],
    ['garbage in the IP field', { email: 'a@example.com', ip: 'not-an-ip' }, /valid/i],
    ['a missing email', { ip: '198.51.100.5' }, /required|email/i],
    ['an invalid email', { email: 'nobody', ip: '198.51.100.5' }, /valid email/i],
  ];
  for (const [what, fields, reason] of refused) {
    it(`refuses ${what} with a 400 page explaining why, storing nothing and mailing nothing`, async () => {
      const [reqs, mails] = [await stored(), await mailJobs()];
      const res = await submit(fields);
      assert.equal(res.status, 400);
      assert.match(res.headers['content-type'] ?? '', /html/);
      assert.match(res.text, reason);
      assert.match(res.text, /aria-invalid="true"/);
      assert.equal(await stored(), reqs);
      assert.equal(await mailJobs(), mails);
    });
  }

  it('never echoes hostile input unescaped', async () => {
    const res = await submit({ email: '"><script>alert(1)</script>@x', ip: '<img src=x onerror=alert(1)>' });
    assert.equal(res.status, 400);
    assert.doesNotMatch(res.text, /<script>alert|<img src=x/);
    assert.match(res.text, /&lt;script&gt;|&lt;img/);
  });

  it('refuses a form without its CSRF token with a 403 page and keeps nothing', async () => {
    const before = await stored();
    const res = await request(app).post('/delist').type('form').send({ email: 'a@example.com', ip: '198.51.100.5' });
    assert.equal(res.status, 403);
    assert.match(res.text, /Reload the page/);
    assert.equal(await stored(), before);
  });

  it('checks the CSRF token of a multipart body too: only the upload form reads its token after the upload', async () => {
    const agent = request.agent(app);
    await agent.get('/delist');
    for (const url of ['/delist', '/delist/confirm/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', '/unblock']) {
      const res = await agent.post(url).field('email', 'a@example.com').field('ip', '198.51.100.5');
      assert.equal(res.status, 403, url);
      assert.match(res.text, /Reload the page/);
    }
  });

  it('refuses an oversized body with 413 and keeps nothing', async () => {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/delist'));
    const before = await stored();
    const res = await agent.post('/delist').type('form').send({ _csrf: token, email: `${'a'.repeat(40_000)}@example.com`, ip: '198.51.100.5' });
    assert.equal(res.status, 413);
    assert.equal(await stored(), before);
  });
});

describe('delist rate limits', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, challenge: { ...p.challenge, resendCooldownSeconds: 0 }, rateLimits: { ...p.rateLimits, delistPerClientIp: roomy, delistPerEmail: { max: 2, windowMinutes: 60 }, delistPerTargetIp: { max: 3, windowMinutes: 60 } } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  async function submit(email: string, ip: string) {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/delist'));
    return agent.post('/delist').type('form').send({ _csrf: token, email, ip });
  }

  it('answers 429 with Retry-After and a readable page once an email address used its quota, across IPs', async () => {
    assert.equal((await submit('quota@example.com', '198.51.100.1')).status, 303);
    assert.equal((await submit('QUOTA@example.com', '198.51.100.2')).status, 303);
    const res = await submit('quota@example.com', '198.51.100.3');
    assert.equal(res.status, 429);
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.match(res.text, /Too many requests/);
  });

  it('limits requests per target IP whatever the email', async () => {
    for (const n of [1, 2, 3]) assert.equal((await submit(`t${n}@example.com`, '198.51.100.77')).status, 303);
    assert.equal((await submit('t4@example.com', '198.51.100.77')).status, 429);
  });

  it('keeps the counters in Redis under this instance\'s prefix, so every web instance shares them', async () => {
    const otherInstance = createApp(ctx);
    const agent = request.agent(otherInstance);
    const token = csrfOf(await agent.get('/delist'));
    const res = await agent.post('/delist').type('form').send({ _csrf: token, email: 't5@example.com', ip: '198.51.100.77' });
    assert.equal(res.status, 429);
  });
});

describe('delist rate limit per client address', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, delistPerClientIp: { max: 3, windowMinutes: 60 }, delistPerEmail: roomy, delistPerTargetIp: roomy } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('counts only forms that validated, then refuses a valid one with the form kept, storing nothing and counting no other limit', async () => {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/delist'));
    const post = (fields: Record<string, string>) => agent.post('/delist').type('form').send({ _csrf: token, ...fields });
    for (let i = 0; i < 5; i++) {
      assert.equal((await post({ email: 'not-an-address', ip: '198.51.100.8' })).status, 400);
      assert.equal((await post({ email: 'ok@example.com', ip: '10.0.0.1' })).status, 400);
      assert.equal((await post({ email: 'ok@example.com' })).status, 400);
    }
    for (const n of [1, 2, 3]) assert.equal((await post({ email: `ok${n}@example.com`, ip: `198.51.100.${n}` })).status, 303);
    const refused = await post({ email: 'other@example.com', ip: '198.51.100.9' });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers['retry-after']) > 3000, 'the hour window is nearly whole');
    assert.match(refused.text, /Too many requests/);
    assert.match(refused.text, /value="other@example\.com"/, 'the form is kept');
    assert.match(refused.text, /value="198\.51\.100\.9"/);
    assert.equal(await storedRequestIds(ctx).then((ids) => ids.length), 3, 'only the accepted requests are stored');
    assert.equal(await ctx.redis.exists(ctx.keys.rateLimit('delist-email') + 'other@example.com'), 0, 'a refused request counts against no other limit');
    assert.equal(await relayOutbox(ctx), 3);
    assert.equal(await ctx.jobs.mail.getJobCountByTypes('waiting'), 3);
  });
});
