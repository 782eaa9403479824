import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { hashPassword } from '../../src/domain/passwords.js';
import type { Context } from '../../src/context.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { PASSWORD } from '../helpers/staff.js';

/** Signs in from `ip` and returns the agent, a CSRF token and the session id (to look at what the session holds). */
async function signIn(app: ReturnType<typeof createApp>, email: string, password = PASSWORD, ip = '198.51.100.10') {
  const agent = request.agent(app);
  const page = await agent.get('/staff/login').expect(200);
  const res = await agent.post('/staff/login').set('X-Forwarded-For', ip).type('form').send({ _csrf: csrfOf(page), email, password });
  assert.equal(res.status, 303, `login of ${email}: ${res.status}`);
  const cookie = decodeURIComponent(/pm_staff=([^;]+)/.exec(String(res.headers['set-cookie']))![1]!);
  const sid = /^s:([^.]+)\./.exec(cookie)![1]!;
  const csrf = csrfOf(await agent.get('/staff').expect(200));
  return { agent, csrf, sid };
}

/** One change to an account, applied the way the CLI applies it (inside a transaction). */
async function change(ctx: Context, fn: (trx: Context['db']) => Promise<void>) {
  await ctx.db.transaction().execute(fn);
}

describe('staff sessions hold the user id only', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, staff: { ...p.staff, loginPerClientIp: { max: 1000, windowMinutes: 15 } } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('keeps no role in the session', async () => {
    await ctx.staff.add('plain@example.net', 'admin', PASSWORD);
    const { sid } = await signIn(app, 'plain@example.net');
    const stored = JSON.parse((await ctx.redis.get(ctx.keys.session(sid)))!);
    assert.deepEqual(Object.keys(stored.staffLogin).sort(), ['email', 'sessionVersion', 'startedAt']);
    assert.doesNotMatch(JSON.stringify(stored), /admin"|role/);
  });

  it('applies a demotion at the next request of a live session', async () => {
    await ctx.staff.add('demoted@example.net', 'admin', PASSWORD);
    const { agent, csrf } = await signIn(app, 'demoted@example.net');
    await agent.get('/staff/users').expect(200);
    await change(ctx, (tx) => ctx.staff.setRoleIn(tx, 'demoted@example.net', 'viewer'));
    await agent.get('/staff/users').expect(403);
    const res = await agent.post('/staff/lists/blocklist/add').type('form').send({ _csrf: csrf, target: '192.0.2.55', category: 'manual', expires: '1d' });
    assert.equal(res.status, 403);
    // Still signed in, as what the store says now.
    const queue = await agent.get('/staff').expect(200);
    assert.match(queue.text, /demoted@example\.net \(viewer\)/);
    assert.equal((await ctx.routing.snapshot()).blocklist.some((e) => e.cidr === '192.0.2.55'), false);
  });

  it('ends every session of a disabled account at its next request, and the account cannot sign in again', async () => {
    await ctx.staff.add('gone@example.net', 'triager', PASSWORD);
    const one = await signIn(app, 'gone@example.net');
    const two = await signIn(app, 'gone@example.net', PASSWORD, '198.51.100.11');
    await change(ctx, (tx) => ctx.staff.setDisabledIn(tx, 'gone@example.net', true));
    const page = await one.agent.get('/staff');
    assert.equal(page.status, 303);
    assert.match(page.headers.location ?? '', /^\/staff\/login/);
    await two.agent.post('/staff/bulk').type('form').send({ _csrf: two.csrf, ids: 'x', reason: 'x' }).expect(401);
    assert.equal(await ctx.redis.get(ctx.keys.session(one.sid)), null, 'the ended session is deleted');
    const agent = request.agent(app);
    const loginPage = await agent.get('/staff/login');
    const login = await agent.post('/staff/login').type('form').send({ _csrf: csrfOf(loginPage), email: 'gone@example.net', password: PASSWORD });
    assert.equal(login.status, 401, 'answered like a wrong password, so the answer does not tell the password is right');
    assert.match(login.text, /Wrong email address or password/);
    // Enabled again, it signs in; the sessions ended by the disable stay ended.
    await change(ctx, (tx) => ctx.staff.setDisabledIn(tx, 'gone@example.net', false));
    await signIn(app, 'gone@example.net');
    await one.agent.get('/staff').expect(303);
  });

  it('ends every session when they are revoked; a new sign-in works', async () => {
    await ctx.staff.add('revoked@example.net', 'viewer', PASSWORD);
    const one = await signIn(app, 'revoked@example.net');
    const two = await signIn(app, 'revoked@example.net');
    await change(ctx, (tx) => ctx.staff.revokeSessionsIn(tx, 'revoked@example.net'));
    await one.agent.get('/staff').expect(303);
    await two.agent.get('/staff/audit').expect(303);
    const three = await signIn(app, 'revoked@example.net');
    await three.agent.get('/staff').expect(200);
  });

  it('ends every session at a password change; the old password no longer works', async () => {
    await ctx.staff.add('rotated@example.net', 'admin', PASSWORD);
    const old = await signIn(app, 'rotated@example.net');
    const hash = await hashPassword('a brand new password 42');
    await change(ctx, (tx) => ctx.staff.setPasswordHashIn(tx, 'rotated@example.net', hash));
    await old.agent.get('/staff/users').expect(303);
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/staff/login'));
    assert.equal((await agent.post('/staff/login').type('form').send({ _csrf: token, email: 'rotated@example.net', password: PASSWORD })).status, 401);
    await signIn(app, 'rotated@example.net', 'a brand new password 42');
    // `staff add` on an existing account (a reset) ends its sessions the same way.
    const before = await signIn(app, 'rotated@example.net', 'a brand new password 42');
    await ctx.staff.add('rotated@example.net', 'admin', PASSWORD);
    await before.agent.get('/staff').expect(303);
  });

  it('ends a session past its absolute lifetime even while it is used', async () => {
    await ctx.staff.add('marathon@example.net', 'viewer', PASSWORD);
    const { agent, sid } = await signIn(app, 'marathon@example.net');
    const absoluteSeconds = ctx.policy.staff.sessionAbsoluteHours * 3600;
    const ttl = await ctx.redis.ttl(ctx.keys.session(sid));
    assert.ok(ttl > 0 && ttl <= absoluteSeconds, `the stored session lives at most the absolute lifetime (ttl ${ttl})`);
    // Used all along (the rolling idle timeout never runs out), but signed in longer ago than the absolute lifetime.
    const key = ctx.keys.session(sid);
    const aged = JSON.parse((await ctx.redis.get(key))!);
    aged.staffLogin.startedAt = Date.now() - (absoluteSeconds - 60) * 1000;
    await ctx.redis.set(key, JSON.stringify(aged), 'EX', 3600);
    await agent.get('/staff').expect(200);
    aged.staffLogin.startedAt = Date.now() - (absoluteSeconds + 1) * 1000;
    await ctx.redis.set(key, JSON.stringify(aged), 'EX', 3600);
    const res = await agent.get('/staff');
    assert.equal(res.status, 303);
    assert.match(res.headers.location ?? '', /^\/staff\/login/);
    assert.equal(await ctx.redis.get(key), null);
  });

  it('does not honour a session of the old shape, which carried the role', async () => {
    await ctx.staff.add('legacy@example.net', 'viewer', PASSWORD);
    const { agent, sid } = await signIn(app, 'legacy@example.net');
    const key = ctx.keys.session(sid);
    const stored = JSON.parse((await ctx.redis.get(key))!);
    delete stored.staffLogin;
    stored.staff = { email: 'legacy@example.net', role: 'admin', createdAt: '' };
    await ctx.redis.set(key, JSON.stringify(stored), 'EX', 3600);
    await agent.get('/staff/users').expect(303);
  });
});

describe('staff absolute session lifetime, in real time', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    // One second of absolute lifetime, eight hours of idle timeout: only the absolute lifetime can end it.
    ctx = testContext({ policy: (p) => ({ ...p, staff: { ...p.staff, sessionAbsoluteHours: 1 / 3600 } }) });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('ends a session that is used all along once its lifetime is over', async () => {
    await ctx.staff.add('busy@example.net', 'viewer', PASSWORD);
    const agent = request.agent(app);
    const page = await agent.get('/staff/login');
    await agent.post('/staff/login').type('form').send({ _csrf: csrfOf(page), email: 'busy@example.net', password: PASSWORD }).expect(303);
    const statuses: number[] = [];
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && statuses.at(-1) !== 303) {
      statuses.push((await agent.get('/staff')).status);
      await sleep(100);
    }
    assert.equal(statuses.at(-1), 303, `the session ended while used: ${statuses.join(',')}`);
    assert.ok(statuses.every((s) => s === 200 || s === 303));
  });
});

describe('sign-in throttle per (account, client)', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, staff: { ...p.staff, loginThrottle: { freeFailures: 2, baseDelaySeconds: 0.1, maxDelaySeconds: 0.4, forgetAfterHours: 1 } } }) });
  });
  after(() => ctx.cleanup());

  it('makes the failing client wait longer after each failure, up to the cap; a success clears it', async () => {
    await ctx.staff.add('grow@example.net', 'viewer', PASSWORD);
    const client = '203.0.113.9';
    const login = (password: string, from = client) => ctx.staff.login('grow@example.net', password, from);
    assert.deepEqual(await login('wrong'), { ok: false, reason: 'wrong', retryAfterMs: 0 });
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const failed = await login('wrong');
      assert.equal(failed.ok, false);
      assert.equal(!failed.ok && failed.reason, 'wrong');
      const imposed = !failed.ok && failed.reason === 'wrong' ? failed.retryAfterMs : -1;
      waits.push(imposed);
      // While the wait runs, even the right password is refused to this client, without being checked.
      const refused = await login(PASSWORD);
      assert.equal(!refused.ok && refused.reason, 'throttled');
      const left = !refused.ok && refused.reason === 'throttled' ? refused.retryAfterMs : 0;
      assert.ok(left > 0 && left <= imposed, `left ${left} of ${imposed}`);
      // Another client is not slowed down at all.
      assert.equal((await login(PASSWORD, '198.51.100.77')).ok, true);
      await sleep(imposed + 30);
    }
    assert.deepEqual(waits, [100, 200, 400, 400]);
    // After the wait, the right password signs in, and the slate is clean: the next failure is free again.
    assert.equal((await login(PASSWORD)).ok, true);
    assert.deepEqual(await login('wrong'), { ok: false, reason: 'wrong', retryAfterMs: 0 });
  });

  it('counts per account: failing on one account does not slow the same client on another', async () => {
    await ctx.staff.add('target@example.net', 'viewer', PASSWORD);
    await ctx.staff.add('other@example.net', 'viewer', PASSWORD);
    for (let i = 0; i < 2; i++) await ctx.staff.login('target@example.net', 'wrong', '203.0.113.10');
    const refused = await ctx.staff.login('target@example.net', PASSWORD, '203.0.113.10');
    assert.equal(!refused.ok && refused.reason, 'throttled');
    assert.equal((await ctx.staff.login('other@example.net', PASSWORD, '203.0.113.10')).ok, true);
  });

  it('lets only one of many parallel attempts through once a client is past its free failures', async () => {
    await ctx.staff.add('parallel@example.net', 'viewer', PASSWORD);
    for (let i = 0; i < 2; i++) await ctx.staff.login('parallel@example.net', 'wrong', '203.0.113.11');
    await sleep(150);
    const results = await Promise.all(Array.from({ length: 10 }, () => ctx.staff.login('parallel@example.net', 'wrong', '203.0.113.11')));
    assert.equal(results.filter((r) => !r.ok && r.reason === 'wrong').length, 1);
    assert.equal(results.filter((r) => !r.ok && r.reason === 'throttled').length, 9);
  });
});
