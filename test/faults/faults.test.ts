import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { confirmDelist, requestDelist } from '../../src/features/delist/service.js';
import { createRedis } from '../../src/redis/connection.js';
import { testContext } from '../helpers/context.js';
import { dropSchema } from '../helpers/db.js';
import { csrfOf } from '../helpers/forms.js';
import { eventually, delistToken, outboxEntries, requestIdsAt, storedRequestIds } from '../helpers/portal.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDb } from '../../src/db/connection.js';
import { DEFAULT_POLICY_FILE } from '../../src/policy.js';
import { freePort, privatePostgres, privateRedis, startRole } from '../helpers/processes.js';

describe('faults', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('kill -9 of a worker in the middle of a batch: every request still ends, each effect exactly once', async () => {
    const ctx = testContext({ env: { WORKER_LOCK_MS: '1500' } });
    cleanups.push(() => ctx.cleanup());
    const n = 60;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const ip = `198.51.100.${i + 1}`;
      await addListing(ctx, { target: ip, category: 'spam-source', source: 'test', by: 'test' });
      const now = new Date(Date.now() + i);
      await requestDelist(ctx, { email: `k${i}@example.org`, ip }, now);
      const id = (await requestIdsAt(ctx, now))[0]!;
      ids.push(await confirmDelist(ctx, await delistToken(ctx, id)));
    }
    const versionBefore = await ctx.routing.version();
    const env = { REDIS_URL: ctx.config.redisUrl!, REDIS_PREFIX: ctx.config.redisPrefix, DATABASE_SCHEMA: ctx.schema, WORKER_LOCK_MS: '1500' };
    const first = startRole('worker/index.ts', env);
    await first.waitFor(/worker started/);
    await eventually(async () => (await ctx.routing.version()) > versionBefore + 5, 20_000);
    await first.kill('SIGKILL');
    const doneAtKill = (await Promise.all(ids.map((id) => ctx.requests.get(id)))).filter((r) => r?.state === 'delisted').length;
    assert.ok(doneAtKill < n, `the kill came mid-batch (${doneAtKill}/${n} done)`);

    const second = startRole('worker/index.ts', env);
    cleanups.push(() => second.kill());
    await second.waitFor(/worker started/);
    await eventually(async () => (await Promise.all(ids.map((id) => ctx.requests.get(id)))).every((r) => r?.state === 'delisted'), 40_000);
    assert.equal(await ctx.routing.version(), versionBefore + n, 'one routing change per request');
    for (let i = 0; i < n; i++) assert.equal(await ctx.blocklist.selfDelistsEver(`198.51.100.${i + 1}`), 1);
    const feed = await ctx.routing.feed(versionBefore, 1000);
    assert.ok(!feed.gone);
    const keys = feed.entries.flatMap((e) => e.changes.map((c) => c.key));
    assert.equal(new Set(keys).size, n, 'no IP removed twice');
  });

  it('Redis killed and restarted: every acknowledged request is still there (records live in PostgreSQL), with its challenge and its mail job', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.kill());
    const ctx = testContext({ env: { REDIS_URL: redis.url }, policy: (p) => ({ ...p, rateLimits: { ...p.rateLimits, delistPerClientIp: { max: 1000, windowMinutes: 1 } } }) });
    const app = createApp(ctx);
    const agent = request.agent(app);
    const acknowledged: string[] = [];
    for (let i = 0; i < 25; i++) {
      const form = await agent.get('/delist');
      const res = await agent.post('/delist').type('form').send({ _csrf: csrfOf(form), email: `aof${i}@example.org`, ip: `203.0.113.${200 + (i % 50)}` });
      if (res.status === 303) acknowledged.push(`aof${i}@example.org`);
    }
    assert.equal(acknowledged.length, 25);
    await redis.kill();
    await ctx.jobs.close().catch(() => {});
    ctx.redis.disconnect();
    await redis.start();
    const check = createRedis(redis.url, 'cli');
    cleanups.push(async () => check.quit());
    await check.flushall(); // whatever Redis kept, nothing of the records depends on it (a private server of this test)
    // ctx.cleanup() would talk to the private Redis, gone by then: close PostgreSQL and drop the schema here.
    cleanups.push(async () => {
      await ctx.db.destroy();
      await dropSchema(ctx.schema);
    });
    const ids = await storedRequestIds(ctx);
    const emails = await Promise.all(ids.map(async (id) => (await ctx.requests.get(id))?.email));
    for (const email of acknowledged) assert.ok(emails.includes(email), `${email} survived`);
    for (const id of ids) assert.ok((await ctx.requests.get(id))?.challengeId, 'its challenge survived');
    const mails = await outboxEntries(ctx);
    assert.deepEqual(mails.map((m) => m.job_id).sort(), ids.map((id) => `delist-challenge-${id}`).sort(), 'its mail job is in the outbox');
  });

  it('Redis unreachable: public pages answer 503 with a readable page, and recover without a restart', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.kill());
    const ctx = testContext({ env: { REDIS_URL: redis.url } });
    cleanups.push(async () => {
      await ctx.jobs.close().catch(() => {});
      ctx.redis.disconnect();
      await ctx.db.destroy();
      await dropSchema(ctx.schema);
    });
    const app = createApp(ctx);
    await request(app).get('/lookup?ip=198.51.100.7').expect(200);
    await redis.kill();
    const down = await request(app).get('/lookup?ip=198.51.100.7');
    assert.equal(down.status, 503);
    assert.match(down.headers['content-type'] ?? '', /html/);
    assert.match(down.text, /briefly unavailable|try again/i);
    assert.ok(Number(down.headers['retry-after']) > 0);
    const api = await request(app).get('/api/v1/blocklist/check/198.51.100.7');
    assert.equal(api.status, 503);
    assert.equal(api.body.code, 'UNAVAILABLE');
    await redis.start();
    await eventually(async () => (await request(app).get('/lookup?ip=198.51.100.7')).status === 200, 15_000);
  });

  it('PostgreSQL crashed and restarted under load: every acknowledged request is there; meanwhile 503, never 500; the web role recovers by itself', async (t) => {
    const pg = await privatePostgres();
    cleanups.push(() => pg.stop());
    const ctx = testContext();
    cleanups.push(() => ctx.cleanup());
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-pgfault-'));
    const policy = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
    for (const name of Object.keys(policy.rateLimits)) policy.rateLimits[name] = { max: 100000, windowMinutes: 10 };
    policy.challenge.resendCooldownSeconds = 0;
    writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy));
    const port = await freePort();
    const web = startRole('src/server.ts', { REDIS_URL: ctx.config.redisUrl!, REDIS_PREFIX: ctx.config.redisPrefix, DATABASE_URL: pg.url, DATABASE_SCHEMA: 'portal', POLICY_FILE: path.join(dir, 'policy.json'), HOST: '127.0.0.1', PORT: String(port) });
    cleanups.push(() => web.kill());
    await web.waitFor(/web listening/, 30_000);
    const base = `http://127.0.0.1:${port}`;

    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    let phase: 'before' | 'down' | 'after' = 'before';
    let afterAcks = 0;
    let n = 0;
    const deadline = Date.now() + 60_000;
    // Three browser-like clients submitting the delist form back to back (bounded by count and time).
    const client = async () => {
      while (Date.now() < deadline && n < 2000 && !(phase === 'after' && afterAcks >= 20)) {
        const i = n++;
        try {
          const form = await fetch(`${base}/delist`);
          const cookie = form.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
          const csrf = /name="_csrf" value="([^"]+)"/.exec(await form.text())?.[1] ?? '';
          const res = await fetch(`${base}/delist`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, email: `pg${i}@example.org`, ip: `203.0.113.${(i % 200) + 1}` }) });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 303) {
            acknowledged.push(`pg${i}@example.org`);
            if (phase === 'after') afterAcks++;
          }
          await res.arrayBuffer();
        } catch {
          statuses.set(0, (statuses.get(0) ?? 0) + 1); // the form page itself failed to load
        }
      }
    };
    const load = Promise.all([client(), client(), client()]);
    await eventually(async () => acknowledged.length >= 20, 20_000);
    phase = 'down';
    await pg.crash();
    await new Promise((r) => setTimeout(r, 1000));
    await pg.start();
    phase = 'after';
    await load;

    t.diagnostic(`acknowledged ${acknowledged.length} (${afterAcks} after the restart); statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    assert.ok(afterAcks >= 20, `the web role took submissions again after the restart (${afterAcks}; statuses ${JSON.stringify([...statuses])})`);
    assert.ok(!statuses.has(500), `no 500 (statuses ${JSON.stringify([...statuses])})`);
    const check = createDb({ url: pg.url, searchPath: 'portal', max: 1 });
    try {
      const stored = new Set((await check.selectFrom('requests').select('email').execute()).map((r) => r.email));
      const lost = acknowledged.filter((e) => !stored.has(e));
      assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged requests lost`);
      const [requests, challenges] = await Promise.all(['requests', 'challenges'].map(async (t) => Number((await check.selectFrom(t as 'requests').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)));
      assert.equal(challenges, requests, 'every stored request has its challenge (made in the same transaction)');
    } finally {
      await check.destroy();
    }
  });
});
