import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { PASSWORD, signedIn } from '../helpers/staff.js';

describe('staff sign-in', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, staff: { ...p.staff, loginPerClientIp: { max: 1000, windowMinutes: 15 } } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('sends a visitor without a session to the login page, and answers 401 to a POST', async () => {
    const res = await request(app).get('/staff').expect(303);
    assert.equal(res.headers.location, '/staff/login?next=%2Fstaff');
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/delist'));
    await agent.post('/staff/bulk').type('form').send({ _csrf: token }).expect(401);
  });

  it('sets an HttpOnly, SameSite=Strict session cookie scoped to /staff, and never lets pages be cached', async () => {
    await ctx.staff.add('cookie@example.net', 'viewer', PASSWORD);
    const agent = request.agent(app);
    const page = await agent.get('/staff/login');
    assert.match(page.headers['cache-control'] ?? '', /no-store/);
    const res = await agent.post('/staff/login').type('form').send({ _csrf: csrfOf(page), email: 'cookie@example.net', password: PASSWORD }).expect(303);
    const cookie = (res.headers['set-cookie'] as unknown as string[]).find((c) => c.startsWith('pm_staff='))!;
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Path=\/staff/);
    const queue = await agent.get('/staff').expect(200);
    assert.match(queue.headers['cache-control'] ?? '', /no-store/);
  });

  it('gives a new session id at login, so a planted one is worth nothing (fixation)', async () => {
    const attacker = await signedIn(ctx, app, 'attacker@example.net', 'viewer');
    const attackerCookie = (await attacker.agent.get('/staff')).request.cookies as unknown as string;
    const plantedSid = /pm_staff=([^;]+)/.exec(String(attackerCookie))?.[1];
    assert.ok(plantedSid, 'the attacker has a session id');
    await ctx.staff.add('victim2@example.net', 'admin', PASSWORD);
    const victim = request.agent(app);
    const page = await victim.get('/staff/login');
    const pageCookies = (page.headers['set-cookie'] as unknown as string[]).map((c) => c.split(';')[0]).join('; ');
    const res = await victim.post('/staff/login').set('Cookie', `${pageCookies}; pm_staff=${plantedSid}`).type('form').send({ _csrf: csrfOf(page), email: 'victim2@example.net', password: PASSWORD }).expect(303);
    const issued = /pm_staff=([^;]+)/.exec((res.headers['set-cookie'] as unknown as string[]).join('\n'))?.[1];
    assert.ok(issued);
    assert.notEqual(issued, plantedSid);
    // The planted id was destroyed at the victim's login: it opens nothing, least of all the admin's pages.
    const withPlanted = await request(app).get('/staff/users').set('Cookie', `pm_staff=${plantedSid}`);
    assert.equal(withPlanted.status, 303);
    assert.match(withPlanted.headers.location ?? '', /^\/staff\/login/);
    await victim.get('/staff/users').expect(200);
  });

  it('refuses a login form without its CSRF token', async () => {
    await request(app).post('/staff/login').type('form').send({ email: 'x@example.net', password: 'x' }).expect(403);
  });

  // Issue 13 item 6: ten wrong passwords from anyone used to lock the account for everyone, the right password included.
  it('lets nobody lock a person out: a client that keeps failing waits, the person signs in from their own address', async () => {
    await ctx.staff.add('victim@example.net', 'admin', PASSWORD);
    const attacker = request.agent(app);
    const token = csrfOf(await attacker.get('/staff/login'));
    const attempt = (password: string) => attacker.post('/staff/login').set('X-Forwarded-For', '203.0.113.66').type('form').send({ _csrf: token, email: 'victim@example.net', password });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await attempt(`wrong-${i}`)).status);
    const free = ctx.policy.staff.loginThrottle.freeFailures;
    assert.deepEqual(statuses.slice(0, free), Array(free).fill(401), statuses.join(','));
    assert.ok(statuses.slice(free).every((s) => s === 429 || s === 401), statuses.join(','));
    assert.ok(statuses.filter((s) => s === 429).length >= 20, `the failing client is made to wait: ${statuses.join(',')}`);
    // The failing client waits even with the right password: no password is checked while it waits.
    const waiting = await attempt(PASSWORD);
    assert.equal(waiting.status, 429);
    assert.ok(Number(waiting.headers['retry-after']) >= 1);
    assert.match(waiting.text, /Too many failed sign-ins for this account from your address/);
    assert.match(waiting.text, /name="password"/, 'the answer is the login page');
    // The person, from their own address, signs in at once.
    const person = request.agent(app);
    const page = await person.get('/staff/login');
    const res = await person.post('/staff/login').set('X-Forwarded-For', '198.51.100.20').type('form').send({ _csrf: csrfOf(page), email: 'victim@example.net', password: PASSWORD });
    assert.equal(res.status, 303, res.text);
    await person.get('/staff/users').set('X-Forwarded-For', '198.51.100.20').expect(200);
  });

  // Issue 13 review: a disabled account answered 403 "disabled" to the right password and 401 to a wrong one, so
  // anyone could test passwords against it. Now both get the wrong-password answer; the log says why.
  it('answers a disabled account exactly like a wrong password, counts it like one, and logs the real reason', async () => {
    await ctx.staff.add('parked@example.net', 'triager', PASSWORD);
    await ctx.staff.setDisabledIn(ctx.db, 'parked@example.net', true);
    const logs: Array<Record<string, unknown>> = [];
    const logger = ctx.logger;
    ctx.logger = pino({ level: 'info' }, new Writable({ write: (chunk: Buffer, _enc, cb) => (logs.push(JSON.parse(chunk.toString())), cb()) }));
    try {
      const agent = request.agent(app);
      const token = csrfOf(await agent.get('/staff/login'));
      const attempt = (password: string, client: string) => agent.post('/staff/login').set('X-Forwarded-For', client).type('form').send({ _csrf: token, email: 'parked@example.net', password });
      const right = await attempt(PASSWORD, '198.51.100.31');
      const wrong = await attempt('not the password', '198.51.100.32');
      assert.equal(right.status, 401);
      assert.equal(wrong.status, 401);
      const page = (res: typeof right) => res.text.replace(/name="_csrf" value="[^"]*"/g, '');
      assert.equal(page(right), page(wrong), 'the same page');
      assert.match(right.text, /Wrong email address or password/);
      assert.doesNotMatch(right.text, /disabled/i);
      assert.equal(right.headers['retry-after'], wrong.headers['retry-after']);
      assert.doesNotMatch(String(right.headers['set-cookie'] ?? ''), /pm_staff=/, 'no session');
      await agent.get('/staff').expect(303);
      const why = logs.filter((l) => l.msg === 'staff login failed').map((l) => l.why);
      assert.deepEqual(why, ['disabled', 'wrong'], 'the log keeps the real reason');

      // The throttle cannot tell them apart either: the right password counts as a failure, so a client that keeps
      // sending it waits like one that keeps guessing (it used to clear the failures).
      const free = ctx.policy.staff.loginThrottle.freeFailures;
      const statuses: number[] = [];
      for (let i = 0; i < free + 1; i++) statuses.push((await attempt(PASSWORD, '198.51.100.33')).status);
      assert.deepEqual(statuses, [...Array(free).fill(401), 429]);
    } finally {
      ctx.logger = logger;
    }
  });

  it('says the same for an unknown account as for a wrong password', async () => {
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/staff/login'));
    const unknown = await agent.post('/staff/login').type('form').send({ _csrf: token, email: 'nobody@example.net', password: 'whatever' });
    const wrong = await agent.post('/staff/login').type('form').send({ _csrf: token, email: 'cookie@example.net', password: 'whatever' });
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    assert.match(unknown.text, /Wrong email address or password/);
  });

  it('follows only /staff paths after login (no open redirect)', async () => {
    await ctx.staff.add('redirect@example.net', 'viewer', PASSWORD);
    for (const [next, expected] of [['/staff/audit', '/staff/audit'], ['https://evil.example', '/staff'], ['//evil.example/staff', '/staff'], ['/staff/../x', '/staff']] as const) {
      const agent = request.agent(app);
      const token = csrfOf(await agent.get('/staff/login'));
      const res = await agent.post('/staff/login').type('form').send({ _csrf: token, email: 'redirect@example.net', password: PASSWORD, next });
      assert.equal(res.headers.location, expected, next);
    }
  });

  it('signs out: the session is gone and the audit log says so', async () => {
    const { agent, csrf } = await signedIn(ctx, app, 'leaver@example.net', 'viewer');
    await agent.post('/staff/logout').type('form').send({ _csrf: csrf }).expect(303);
    await agent.get('/staff').expect(303);
    const actions = (await ctx.audit.recent(50)).filter((e) => e.actor === 'leaver@example.net').map((e) => e.action);
    assert.ok(actions.includes('staff.login'));
    assert.ok(actions.includes('staff.logout'));
  });
});
