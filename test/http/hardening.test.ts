import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { fromThisMachine } from '../../src/features/dev-outbox/routes.js';
import { languageOf } from '../../src/i18n/index.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { signedIn } from '../helpers/staff.js';

/** Issue 13, item 7: the smaller holes of the web role, each tried as an attacker would. */

const BAD_COOKIES = ['pm_lang=%E0%A4%A', 'pm_lang=%', 'pm_lang=%ZZ', 'pm_lang=%C0%80', `pm_lang=${'%'.repeat(500)}`, 'pm_lang="%E0"', 'pm_lang=%E0%A4%A; pm_lang=ko', 'pm_lang=ko%00'];

describe('a malformed pm_lang cookie', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('never makes languageOf throw; anything but one of our codes gives Accept-Language or English', () => {
    for (const cookie of BAD_COOKIES) assert.ok(['en', 'ko'].includes(languageOf(cookie, undefined)), cookie);
    assert.equal(languageOf('pm_lang=%E0%A4%A', 'ko-KR'), 'ko');
    assert.equal(languageOf('x=1; pm_lang=zh-TW', undefined), 'zh-TW');
    assert.equal(languageOf('pm_lang=zh%2DTW', undefined), 'zh-TW');
  });

  // Errors raised before the language middleware (CSRF, body too large) used to reach the error handler, whose
  // cookie decoding threw: a 500 and express's stack trace on stderr.
  const early: Array<[string, (cookie: string) => request.Test, number]> = [
    ['a POST without its CSRF token', (c) => request(app).post('/unblock').set('Cookie', c).type('form').send({ tenant: 'x' }), 403],
    ['the staff sign-in without its CSRF token', (c) => request(app).post('/staff/login').set('Cookie', c).type('form').send({ email: 'a@b.c', password: 'x' }), 403],
    ['a form body over the limit', (c) => request(app).post('/delist').set('Cookie', c).type('form').send({ email: 'x'.repeat(20_000) }), 413],
    ['the delist form without its CSRF token', (c) => request(app).post('/delist').set('Cookie', c).type('form').send({ email: 'a@b.example', ip: '192.0.2.1' }), 403],
    ['a page that does not exist', (c) => request(app).get('/no-such-page').set('Cookie', c), 404],
    ['an API path that does not exist', (c) => request(app).get('/api/v1/nothing').set('Cookie', c), 404],
  ];
  for (const [what, send, status] of early) {
    it(`answers ${what} with ${status} in the default language, for every bad cookie`, async () => {
      for (const cookie of BAD_COOKIES) {
        const res = await send(cookie).set('Accept', 'text/html');
        assert.equal(res.status, status, `${cookie}: ${res.text.slice(0, 200)}`);
        if (res.type === 'text/html') assert.match(res.text, /<html lang="en">/, cookie);
        assert.doesNotMatch(res.text, /URIError|at .*\.ts:\d+/);
      }
    });
  }

  it('shows every public page in the default language with a bad cookie', async () => {
    for (const path of ['/', '/delist', '/report', '/unblock', '/lookup?ip=192.0.2.1', '/pools/explain', '/staff/login']) {
      const res = await request(app).get(path).set('Cookie', 'pm_lang=%E0%A4%A');
      assert.equal(res.status, 200, path);
      assert.match(res.text, /<html lang="en">/, path);
    }
  });
});

describe('/STAFF in any other case', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  let admin: Awaited<ReturnType<typeof signedIn>>;
  before(async () => {
    ctx = testContext();
    app = createApp(ctx);
    admin = await signedIn(ctx, app, 'case@example.net', 'admin');
  });
  after(() => ctx.cleanup());

  const CASINGS = ['/STAFF', '/Staff', '/sTaFf', '/STAFF/', '/Staff/login', '/STAFF/login', '/STAFF/LOGIN', '/Staff/lists', '/STAFF/queues', '/Staff/tickets/x', '/STAFF/users', '/STAFF/audit'];

  it('answers 404 (never 500) on GET, signed in or not', async () => {
    for (const path of CASINGS) {
      for (const agent of [request(app), admin.agent]) {
        const res = await agent.get(path).set('Accept', 'text/html');
        assert.equal(res.status, 404, `${path}: ${res.status}`);
        assert.match(res.text, /Not found/);
      }
    }
  });

  it('answers 404 (never 500) on POST, also with a valid CSRF token', async () => {
    const page = await request.agent(app).get('/delist');
    const cookies = page.headers['set-cookie'] as unknown as string[];
    const csrf = csrfOf(page);
    for (const path of ['/STAFF/login', '/Staff/login', '/STAFF/logout', '/Staff/lists/blocklist/remove', '/STAFF/bulk', '/Staff/tickets/x/action']) {
      const res = await request(app).post(path).set('Cookie', cookies.map((c) => c.split(';')[0]).join('; ')).type('form').send({ _csrf: csrf, email: 'case@example.net', password: 'x', target: '192.0.2.1' });
      assert.equal(res.status, 404, `${path}: ${res.status}`);
      const signed = await admin.agent.post(path).type('form').send({ _csrf: admin.csrf, target: '192.0.2.1' });
      assert.equal(signed.status, 404, `${path} signed in: ${signed.status}`);
    }
  });

  it('still serves /staff itself, and a lower-case prefix with any case after it as before', async () => {
    assert.equal((await admin.agent.get('/staff')).status, 200);
    assert.equal((await request(app).get('/staff/login')).status, 200);
    assert.equal((await request(app).get('/staff/LOGIN')).status, 200, 'the session cookie still reaches it');
    assert.equal((await request(app).get('/staffing')).status, 404);
  });
});

describe('/dev/outbox: development only, and only for this machine', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('answers a browser on this machine (supertest connects from 127.0.0.1) and links to it', async () => {
    assert.equal((await request(app).get('/dev/outbox')).status, 200);
    assert.match((await request(app).get('/delist')).text, /href="\/dev\/outbox"/);
  });

  it('answers 404 to a request a proxy forwarded, and shows no link to it', async () => {
    for (const [header, value] of [['X-Forwarded-For', '203.0.113.9'], ['Forwarded', 'for=203.0.113.9'], ['X-Real-IP', '203.0.113.9'], ['X-Forwarded-For', '127.0.0.1']]) {
      assert.equal((await request(app).get('/dev/outbox').set(header!, value!)).status, 404, header);
      assert.doesNotMatch((await request(app).get('/delist').set(header!, value!)).text, /dev\/outbox/, header);
    }
  });

  it('judges by the connection: loopback only, IPv4-mapped and IPv6 included', () => {
    const req = (remoteAddress: string | undefined, headers: Record<string, string> = {}) => ({ socket: { remoteAddress }, headers }) as never;
    for (const a of ['127.0.0.1', '127.0.0.2', '::1', '::ffff:127.0.0.1']) assert.equal(fromThisMachine(req(a)), true, a);
    for (const a of ['192.0.2.2', '::ffff:192.0.2.2', '2001:db8::1', '0.0.0.0', '::', undefined, 'garbage']) assert.equal(fromThisMachine(req(a)), false, String(a));
    assert.equal(fromThisMachine(req('127.0.0.1', { 'x-forwarded-for': '127.0.0.1' })), false);
  });

  it('answers 404 to a client reaching the server on another address of this machine', async (t) => {
    const other = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4');
    if (!other) return t.skip('no non-loopback IPv4 address on this machine');
    const server = app.listen(0, '0.0.0.0');
    await new Promise((r) => server.once('listening', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const remote = await fetch(`http://${other.address}:${port}/dev/outbox`);
      assert.equal(remote.status, 404);
      assert.doesNotMatch(await (await fetch(`http://${other.address}:${port}/delist`)).text(), /dev\/outbox/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/dev/outbox`)).status, 200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('is not there at all in production or with SMTP_URL set, nor in another case', async () => {
    const prod = testContext({ env: { NODE_ENV: 'production', SESSION_SECRET: 's'.repeat(40), SMTP_URL: 'smtp://127.0.0.1:1', REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://127.0.0.1/postmaster_test' } });
    const smtp = testContext({ env: { SMTP_URL: 'smtp://127.0.0.1:1' } });
    try {
      for (const c of [prod, smtp]) {
        assert.equal((await request(createApp(c)).get('/dev/outbox')).status, 404);
        assert.doesNotMatch((await request(createApp(c)).get('/delist')).text, /dev\/outbox/);
      }
      assert.equal((await request(app).get('/Dev/Outbox')).status, 404);
    } finally {
      await prod.cleanup();
      await smtp.cleanup();
    }
  });
});

describe('TRUST_PROXY', () => {
  for (const [value, forwardedCounts] of [
    ['true', true],
    ['false', false],
    ['1', true],
    ['2', true],
    ['loopback', true],
    ['loopback, linklocal, uniquelocal', true],
    ['10.0.0.0/8, 192.0.2.0/24', false],
    ['127.0.0.1, ::1', true],
  ] as const) {
    it(`TRUST_PROXY=${value} builds the app and ${forwardedCounts ? 'takes' : 'ignores'} X-Forwarded-For from a loopback proxy`, async () => {
      const ctx = testContext({ env: { TRUST_PROXY: value } });
      try {
        const app = createApp(ctx);
        // The public check's rate limit counts per client IP: two "clients" behind the proxy get separate counts when
        // the proxy is trusted, and share the proxy's count when it is not.
        const limit = ctx.policy.rateLimits.apiCheckPerClientIp.max;
        const remaining = async (client: string) => Number(/r=(\d+)/.exec(String((await request(app).get('/api/v1/blocklist/check/192.0.2.1').set('X-Forwarded-For', client)).headers['ratelimit']))?.[1]);
        assert.equal(await remaining('198.51.100.1'), limit - 1);
        assert.equal(await remaining('198.51.100.2'), forwardedCounts ? limit - 1 : limit - 2);
      } finally {
        await ctx.cleanup();
      }
    });
  }
});

describe('forwarding headers sent by a client', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  // express-rate-limit checks each request's Forwarded / X-Forwarded-For against `trust proxy` and prints a
  // ValidationError with its stack on the first one per limiter: any client could write stack traces to the log.
  it('writes nothing to stderr, whatever Forwarded or X-Forwarded-For a client sends to the rate-limited routes', async () => {
    const written: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void written.push(args.map(String).join(' '));
    try {
      for (const path of ['/lookup?ip=198.51.100.7', '/status/AAAAAAAAAAAAAAAA']) {
        await request(app).get(path).set('Forwarded', 'for=203.0.113.9;proto=https').expect((r) => assert.ok(r.status < 500, `${path} ${r.status}`));
        await request(app).get(path).set('X-Forwarded-For', '203.0.113.9, 10.0.0.1').expect((r) => assert.ok(r.status < 500, `${path} ${r.status}`));
      }
    } finally {
      console.error = original;
    }
    assert.deepEqual(written, []);
  });
});
