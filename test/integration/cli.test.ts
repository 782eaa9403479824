import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createContext } from '../../src/context.js';
import { createLogger } from '../../src/logger.js';
import { loadPolicy } from '../../src/policy.js';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { REDIS_URL } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { dropSchema, lazyTestDb, newSchemaName } from '../helpers/db.js';

const run = promisify(execFile);
const prefix = `pm-test-cli-${randomBytes(4).toString('hex')}`;
const schema = newSchemaName();

/** Runs `postmaster …` as an operator would (bin/postmaster.js), under this test's own prefix. */
async function postmaster(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/postmaster.js', ...args], { env: { ...process.env, REDIS_URL, REDIS_PREFIX: prefix, DATABASE_SCHEMA: schema, NODE_ENV: 'test' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npx postmaster', () => {
  const redis = createRedis(REDIS_URL, 'cli');
  // The portal on the CLI's own prefix, to see what each command does to live sessions and tokens.
  const ctx = createContext(loadConfig({ NODE_ENV: 'test', REDIS_URL, REDIS_PREFIX: prefix, PUBLIC_URL: 'http://portal.test' }), loadPolicy(), redis, createLogger('silent', 'test'), lazyTestDb(schema));
  const app = createApp(ctx);
  before(() => redis.ping());
  after(async () => {
    await ctx.jobs.close();
    await deleteByPattern(redis, createKeys(prefix).all);
    await redis.quit();
    await ctx.db.destroy();
    await dropSchema(schema);
  });

  const signIn = async (email: string, password: string, ip = '198.51.100.40') => {
    const agent = request.agent(app);
    const page = await agent.get('/staff/login');
    const res = await agent.post('/staff/login').set('X-Forwarded-For', ip).type('form').send({ _csrf: csrfOf(page), email, password });
    return { agent, status: res.status, text: res.text };
  };
  const auditOf = async (action: string) => (await ctx.audit.recent(200)).filter((e) => e.action === action);

  it('lists a range, excludes one address inside it, and checks both', async () => {
    const add = await postmaster('block', 'add', '198.51.100.0/24', '--category', 'spam-source', '--expires', '7d', '--note', 'from a trap');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /listed 198\.51\.100\.0\/24 \(spam-source\)/);
    const remove = await postmaster('block', 'remove', '198.51.100.23');
    assert.match(remove.stdout, /excluded 198\.51\.100\.23 from 198\.51\.100\.0\/24/);
    assert.match((await postmaster('check', '198.51.100.23')).stdout, /is not listed/);
    assert.match((await postmaster('check', '198.51.100.24')).stdout, /is listed by 198\.51\.100\.0\/24/);
    const list = JSON.parse((await postmaster('block', 'list', '--json')).stdout);
    assert.deepEqual(list.blocklist.map((e: { cidr: string }) => e.cidr), ['198.51.100.0/24']);
    assert.deepEqual(list.exclusions.map((e: { cidr: string }) => e.cidr), ['198.51.100.23']);
    assert.equal(list.version, 2);
  });

  it('refuses a CIDR with host bits set, an unknown category and a bad expiry, changing nothing', async () => {
    const hostBits = await postmaster('block', 'add', '198.51.100.1/24', '--category', 'spam-source');
    assert.equal(hostBits.code, 2);
    assert.match(hostBits.stderr, /198\.51\.100\.0\/24/);
    assert.equal((await postmaster('block', 'add', '192.0.2.1', '--category', 'nope')).code, 2);
    assert.equal((await postmaster('block', 'add', '192.0.2.1', '--category', 'manual', '--expires', 'soon')).code, 2);
    assert.equal((await postmaster('block', 'remove', '192.0.2.99')).code, 2);
    assert.equal(JSON.parse((await postmaster('block', 'list', '--json')).stdout).version, 2);
  });

  it('assigns a tenant to a pool with an expiry, lists it, releases it, and refuses a missing target', async () => {
    const assign = await postmaster('pool', 'assign', '--tenant', 'acme-1', '--pool', 'high-risk', '--expires', '72h', '--reason', 'spam run');
    assert.equal(assign.code, 0, assign.stderr);
    assert.match(assign.stdout, /assigned tenant acme-1 to high-risk until 20\d\d-/);
    const listed = JSON.parse((await postmaster('pool', 'list', '--json')).stdout);
    assert.deepEqual(listed.assignments.map((a: { key: string; pool: string }) => `${a.key}:${a.pool}`), ['acme-1:high-risk']);
    assert.match((await postmaster('pool', 'release', '--tenant', 'acme-1')).stdout, /released tenant acme-1/);
    const neither = await postmaster('pool', 'assign', '--pool', 'relay', '--reason', 'x');
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /exactly one of --tenant/);
  });

  it('creates an API token that is printed once', async () => {
    const res = await postmaster('token', 'create', 'routing-engine');
    assert.match(res.stdout.trim(), /^pmt_[A-Za-z0-9_-]{43}$/);
  });

  it('changes a staff account with role, disable, enable, sessions revoke and password: each applies at the next request of a live session', async () => {
    const add = await postmaster('staff', 'add', 'ops@example.net', '--role', 'admin');
    assert.equal(add.code, 0, add.stderr);
    const password = /password: (\S+)/.exec(add.stdout)![1]!;
    const admin = await signIn('ops@example.net', password);
    assert.equal(admin.status, 303);
    await admin.agent.get('/staff/users').expect(200);

    // Demoted: the same session loses the admin pages at once, and stays signed in as a viewer.
    const role = await postmaster('staff', 'role', 'ops@example.net', 'viewer', '--as', 'alice');
    assert.equal(role.code, 0, role.stderr);
    await admin.agent.get('/staff/users').expect(403);
    await admin.agent.get('/staff').expect(200);
    assert.equal((await postmaster('staff', 'role', 'ops@example.net', 'overlord')).code, 2);
    assert.equal((await postmaster('staff', 'role', 'nobody@example.net', 'admin')).code, 2);

    // Sessions revoked: the session ends; signing in again works.
    assert.equal((await postmaster('--as', 'carol', 'staff', 'sessions', 'revoke', 'ops@example.net')).code, 0);
    await admin.agent.get('/staff').expect(303);
    const again = await signIn('ops@example.net', password);
    await again.agent.get('/staff').expect(200);

    // Disabled: the session ends and the right password is refused; enabled: it signs in.
    assert.equal((await postmaster('staff', 'disable', 'OPS@example.net', '--as', 'bob', '--reason', 'left the team')).code, 0);
    await again.agent.get('/staff').expect(303);
    const refused = await signIn('ops@example.net', password);
    assert.equal(refused.status, 401, 'answered like a wrong password');
    assert.match(refused.text, /Wrong email address or password/);
    assert.match((await postmaster('staff', 'list')).stdout, /ops@example\.net\s+viewer\s+disabled/);
    assert.equal((await postmaster('staff', 'enable', 'ops@example.net')).code, 0);
    const back = await signIn('ops@example.net', password);
    assert.equal(back.status, 303);

    // New password: the session ends, the old password fails, the new one works.
    const changed = await postmaster('staff', 'password', 'ops@example.net', '--as', 'dave');
    assert.equal(changed.code, 0, changed.stderr);
    const newPassword = /password: (\S+)/.exec(changed.stdout)![1]!;
    await back.agent.get('/staff').expect(303);
    assert.equal((await signIn('ops@example.net', password)).status, 401);
    assert.equal((await signIn('ops@example.net', newPassword)).status, 303);

    // Each change is audited with the person who ran it: --as, else the OS user.
    const me = `cli:${userInfo().username}`;
    const [roleEntry] = await auditOf('staff.role');
    assert.deepEqual([roleEntry?.actor, roleEntry?.target, (roleEntry?.before as { role: string }).role, (roleEntry?.after as { role: string }).role], ['cli:alice', 'ops@example.net', 'admin', 'viewer']);
    assert.equal((await auditOf('staff.sessions.revoke'))[0]?.actor, 'cli:carol');
    const [disable] = await auditOf('staff.disable');
    assert.deepEqual([disable?.actor, disable?.reason], ['cli:bob', 'left the team']);
    assert.equal((await auditOf('staff.enable'))[0]?.actor, me);
    assert.equal((await auditOf('staff.password'))[0]?.actor, 'cli:dave');
    assert.equal((await auditOf('staff.add'))[0]?.actor, me);
    assert.doesNotMatch(JSON.stringify(await ctx.audit.recent(200)), new RegExp(newPassword));
  });

  it('lists tokens by name and date without secrets, and a revoked token is refused at its next request', async () => {
    const token = (await postmaster('token', 'create', 'engine-a', '--as', 'erin')).stdout.trim();
    assert.match(token, /^pmt_/);
    const keep = (await postmaster('token', 'create', 'engine-b')).stdout.trim();
    const api = (t: string) => request(app).get('/api/v1/routing/snapshot').set('Authorization', `Bearer ${t}`);
    await api(token).expect(200);
    const list = await postmaster('token', 'list');
    assert.match(list.stdout, /^engine-a\s+created 20\d\d-/m);
    assert.match(list.stdout, /^engine-b\s+created 20\d\d-/m);
    assert.ok(!list.stdout.includes(token.slice(4, 20)) && !list.stdout.includes(keep.slice(4, 20)), 'no secret is printed');
    const json = JSON.parse((await postmaster('token', 'list', '--json')).stdout) as Array<Record<string, string>>;
    assert.deepEqual(Object.keys(json[0]!).sort(), ['createdAt', 'name']);

    const revoke = await postmaster('token', 'revoke', 'engine-a', '--as', 'frank');
    assert.equal(revoke.code, 0, revoke.stderr);
    assert.match(revoke.stdout, /revoked 1 token named engine-a/);
    await api(token).expect(401);
    await api(keep).expect(200);
    assert.doesNotMatch((await postmaster('token', 'list')).stdout, /engine-a/);
    const again = await postmaster('token', 'revoke', 'engine-a');
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no token named "engine-a"/);
    assert.equal((await auditOf('token.revoke'))[0]?.actor, 'cli:frank');
    assert.equal((await auditOf('token.create')).find((e) => e.target === 'engine-a')?.actor, 'cli:erin');
    assert.equal((await postmaster('token', 'create', '../../etc')).code, 2);
  });

  it('names the person who ran any audited command, and refuses a malformed --as before changing anything', async () => {
    const add = await postmaster('--as', 'grace', 'block', 'add', '192.0.2.200', '--category', 'manual', '--expires', '1d');
    assert.equal(add.code, 0, add.stderr);
    assert.equal((await ctx.blocklist.history('192.0.2.200'))[0]?.by, 'cli:grace');
    const assign = await postmaster('pool', 'assign', '--tenant', 'acme-9', '--pool', 'relay', '--reason', 'migration', '--as', 'grace');
    assert.equal(assign.code, 0, assign.stderr);
    assert.equal((await ctx.audit.recent(200)).find((e) => e.target.includes('acme-9'))?.actor, 'cli:grace');
    const bad = await postmaster('block', 'add', '192.0.2.201', '--category', 'manual', '--as', 'x y\nforged');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--as/);
    assert.equal(JSON.parse((await postmaster('block', 'list', '--json')).stdout).blocklist.some((e: { cidr: string }) => e.cidr === '192.0.2.201'), false);
  });

  it('refuses a private range, and one of our own pool addresses without --override', async () => {
    const privateRange = await postmaster('block', 'add', '192.168.1.5', '--category', 'manual');
    assert.equal(privateRange.code, 2);
    assert.match(privateRange.stderr, /private range.*cannot be listed/);
    const pool = await postmaster('block', 'add', '203.0.113.5', '--category', 'manual');
    assert.equal(pool.code, 2);
    assert.match(pool.stderr, /our own normal outbound pool.*--override/);
    assert.equal((await postmaster('block', 'add', '203.0.113.5', '--category', 'manual', '--override', '--expires', '1h')).code, 0);
    assert.equal((await ctx.blocklist.getListing('203.0.113.5'))?.category, 'manual');
  });
});
