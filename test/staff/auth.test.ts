import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
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

  it('locks an account after ten wrong passwords: thirty end in refusals, and then even the right one is refused', async () => {
    await ctx.staff.add('victim@example.net', 'admin', PASSWORD);
    const agent = request.agent(app);
    const token = csrfOf(await agent.get('/staff/login'));
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await agent.post('/staff/login').type('form').send({ _csrf: token, email: 'victim@example.net', password: `wrong-${i}` })).status);
    assert.deepEqual(statuses.slice(0, 9), Array(9).fill(401));
    assert.ok(statuses.slice(10).every((s) => s === 429), `statuses: ${statuses.join(',')}`);
    const right = await agent.post('/staff/login').type('form').send({ _csrf: token, email: 'victim@example.net', password: PASSWORD });
    assert.equal(right.status, 429);
    assert.ok(Number(right.headers['retry-after']) > 0);
    assert.match(right.text, /locked/);
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
