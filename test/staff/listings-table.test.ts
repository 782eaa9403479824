import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

const rowsOf = (html: string) => [...html.matchAll(/<a href="\/staff\/address\/[^"]+"><code>([^<]+)<\/code><\/a>/g)].map((m) => m[1]!);

describe('the staff listings table', () => {
  let ctx: TestContext;
  let triager: Awaited<ReturnType<typeof signedIn>>;
  before(async () => {
    ctx = testContext();
    triager = await signedIn(ctx, createApp(ctx), 'tri@example.net', 'triager');
    const t0 = Date.parse('2026-11-01T00:00:00Z');
    for (let i = 0; i < 120; i++) {
      await addListing(ctx, { target: `198.51.100.${i + 1}`, category: i % 3 === 0 ? 'botnet' : 'spam-source', source: i % 2 ? 'cli' : 'staff', by: 'test', expires: i % 4 ? `${i + 1}h` : 'never' }, new Date(t0 + i * 60_000));
    }
    await addListing(ctx, { target: '192.0.2.0/24', category: 'snowshoe', source: 'staff', by: 'test' }, new Date(t0 + 500 * 60_000));
  });
  after(() => ctx.cleanup());

  it('pages newest first by cursor through every listing, each once', async () => {
    const seen: string[] = [];
    let url: string | null = '/staff/lists/blocklist';
    while (url) {
      const page: { text: string } = await triager.agent.get(url).expect(200);
      seen.push(...rowsOf(page.text));
      url = /<a class="button" href="([^"]+)" rel="next">/.exec(page.text)?.[1]?.replace(/&amp;/g, '&') ?? null;
    }
    assert.equal(seen.length, 121);
    assert.equal(new Set(seen).size, 121);
    assert.deepEqual(seen.slice(0, 2), ['192.0.2.0/24', '198.51.100.120']);
  });

  it('filters by address or range containment, category and source, and sorts by expiry', async () => {
    const inRange = rowsOf((await triager.agent.get('/staff/lists/blocklist?ip=198.51.100.0/28&sort=cidr').expect(200)).text);
    assert.deepEqual(inRange, Array.from({ length: 15 }, (_, i) => `198.51.100.${i + 1}`));
    assert.deepEqual(rowsOf((await triager.agent.get('/staff/lists/blocklist?ip=192.0.2.77').expect(200)).text), ['192.0.2.0/24'], 'the range containing an address');
    const botnetCli = rowsOf((await triager.agent.get('/staff/lists/blocklist?category=botnet&source=cli&sort=cidr').expect(200)).text);
    assert.ok(botnetCli.length > 0 && botnetCli.every((c) => (Number(c.split('.')[3]) - 1) % 6 === 3), botnetCli.join());
    const expiring = rowsOf((await triager.agent.get('/staff/lists/blocklist?sort=expiring').expect(200)).text);
    assert.equal(expiring[0], '198.51.100.2', 'the one expiring soonest first; the ones without expiry are not in this sort');
  });

  it('answers a bad filter beside the field, and ignores a cursor it did not write', async () => {
    const bad = await triager.agent.get('/staff/lists/blocklist?ip=300.1.2.3');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /aria-invalid="true"/);
    for (const after of ['%27%3B--', Buffer.from('["1","x"]').toString('base64url'), Buffer.from('["198.51.100.5/32"]').toString('base64url')]) {
      const res = await triager.agent.get(`/staff/lists/blocklist?sort=newest&after=${after}`);
      assert.equal(res.status, 200, after);
    }
  });

  it('expires a listing from its row and comes back to the same table', async () => {
    const page = await triager.agent.get('/staff/lists/blocklist?category=snowshoe').expect(200);
    const ret = /name="return" value="([^"]+)"/.exec(page.text)![1]!.replace(/&amp;/g, '&');
    const res = await triager.agent.post('/staff/lists/blocklist/remove').type('form').send({ _csrf: triager.csrf, target: '192.0.2.0/24', reason: 'cleaned up', return: ret }).expect(303);
    assert.equal(res.headers.location, ret);
    assert.equal(await ctx.blocklist.getListing('192.0.2.0/24'), null);
    const evil = await triager.agent.post('/staff/lists/blocklist/remove').type('form').send({ _csrf: triager.csrf, target: '198.51.100.9', reason: 'x', return: 'https://evil.example/' }).expect(303);
    assert.equal(evil.headers.location, '/staff/lists#blocklist');
  });
});
