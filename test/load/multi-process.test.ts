import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { addListing } from '../../src/features/blocklist/service.js';
import { DEFAULT_POLICY_FILE } from '../../src/policy.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { eventually, storedRequestIds } from '../helpers/portal.js';
import { freePort, startRole } from '../helpers/processes.js';

/** A browser-like client of one web instance: keeps its cookies, reads the CSRF token of a form. */
function client(base: string) {
  let cookie = '';
  const keep = (res: Response) => {
    const set = res.headers.getSetCookie().map((c) => c.split(';')[0]!);
    if (set.length) cookie = [...cookie.split('; ').filter((c) => c && !set.some((s) => s.split('=')[0] === c.split('=')[0])), ...set].join('; ');
    return res;
  };
  return {
    base,
    async form(url: string) {
      const res = keep(await fetch(base + url, { headers: { cookie } }));
      return /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1] ?? '';
    },
    async post(url: string, fields: Record<string, string>) {
      return keep(await fetch(base + url, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) }));
    },
  };
}

describe('two web and two worker processes on one Redis', () => {
  let ctx: TestContext;
  const roles: Array<ReturnType<typeof startRole>> = [];
  const bases: string[] = [];
  before(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-multi-'));
    const policy = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
    policy.rateLimits.delistPerEmail = { max: 3, windowMinutes: 60 };
    policy.rateLimits.delistPerClientIp = { max: 1000, windowMinutes: 10 };
    policy.rateLimits.confirmPerClientIp = { max: 1000, windowMinutes: 10 };
    policy.challenge.resendCooldownSeconds = 0;
    writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy));
    ctx = testContext({ env: { POLICY_FILE: path.join(dir, 'policy.json') } });
    const env = { REDIS_URL: ctx.config.redisUrl!, REDIS_PREFIX: ctx.config.redisPrefix, DATABASE_SCHEMA: ctx.schema, POLICY_FILE: path.join(dir, 'policy.json'), HOST: '127.0.0.1' };
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      roles.push(startRole('src/server.ts', { ...env, PORT: String(port) }));
      bases.push(`http://127.0.0.1:${port}`);
      roles.push(startRole('worker/index.ts', env));
    }
    await Promise.all(roles.map((r) => r.waitFor(/web listening|worker started/)));
  });
  after(async () => {
    await Promise.all(roles.map((r) => r.kill()));
    await ctx.cleanup();
  });

  it('holds a per-email rate limit across both web instances', async () => {
    const [a, b] = [client(bases[0]!), client(bases[1]!)];
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const c = i % 2 ? b : a;
      const csrf = await c.form('/delist');
      statuses.push((await c.post('/delist', { _csrf: csrf, email: 'shared@example.org', ip: `198.51.100.${10 + i}` })).status);
    }
    assert.deepEqual(statuses, [303, 303, 303, 429, 429, 429]);
  });

  it('applies each delist exactly once while both workers take jobs', async () => {
    const n = 30;
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const addr = `192.0.2.${i + 100}`;
      await addListing(ctx, { target: addr, category: 'spam-source', source: 'test', by: 'test' });
      const c = client(bases[i % 2]!);
      await c.post('/delist', { _csrf: await c.form('/delist'), email: `multi${i}@example.org`, ip: addr });
    }
    const before = await ctx.routing.version();
    const all = await storedRequestIds(ctx);
    for (const id of all) {
      const r = await ctx.requests.get(id);
      if (!r || !r.email.startsWith('multi')) continue;
      ids.push(id);
      const c = client(bases[ids.length % 2]!);
      const token = ctx.challenges.tokenFor(r.challengeId);
      // A worker makes the challenge as it mails the link: the link works once its mail went out.
      await eventually(async () => (await ctx.challenges.check(token)).status === 'valid');
      const link = `/delist/confirm/${token}`;
      const res = await c.post(link, { _csrf: await c.form(link) });
      assert.equal(res.status, 303);
    }
    assert.equal(ids.length, n);
    await eventually(async () => (await Promise.all(ids.map((id) => ctx.requests.get(id)))).every((r) => r?.state === 'delisted'), 30_000);
    assert.equal(await ctx.routing.version(), before + n);
    const feed = await ctx.routing.feed(before, 1000);
    assert.ok(!feed.gone);
    assert.equal(new Set(feed.entries.flatMap((e) => e.changes.map((c) => c.key))).size, n);
    for (const id of ids) assert.equal((await ctx.requests.events(id)).filter((e) => e.state === 'delisted').length, 1);
  });
});
