import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing, removeListing } from '../../src/features/blocklist/service.js';
import { testContext, type TestContext } from '../helpers/context.js';

describe('routing API', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  let token: string;
  before(async () => {
    ctx = testContext();
    app = createApp(ctx);
    token = await ctx.apiTokens.create('routing-engine');
  });
  after(() => ctx.cleanup());
  const auth = () => ({ Authorization: `Bearer ${token}` });

  it('refuses the snapshot and the feed without a valid token with 401 JSON', async () => {
    for (const path of ['/api/v1/routing/snapshot', '/api/v1/routing/feed?after=0']) {
      const none = await request(app).get(path).expect(401).expect('content-type', /json/);
      assert.equal(none.body.code, 'UNAUTHORIZED');
      assert.match(none.headers['www-authenticate'] ?? '', /Bearer/);
      await request(app).get(path).set('Authorization', 'Bearer pmt_' + 'x'.repeat(43)).expect(401);
      await request(app).get(path).set('Authorization', token).expect(401);
    }
  });

  it('stores tokens only as hashes', async () => {
    const rows = await ctx.db.selectFrom('api_tokens').selectAll().execute();
    assert.ok(rows.length >= 1);
    const secret = token.slice(4);
    for (const row of rows) {
      assert.equal(row.token_hash.length, 32, 'a SHA-256, nothing else');
      assert.ok(!JSON.stringify(row).includes(secret));
      assert.ok(!row.token_hash.toString('base64url').includes(secret));
    }
  });

  it('serves the snapshot with a strong ETag, 304 on If-None-Match, and a new ETag after a change', async () => {
    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });
    const first = await request(app).get('/api/v1/routing/snapshot').set(auth()).expect(200);
    assert.match(first.headers.etag ?? '', /^"v\d+"$/);
    assert.deepEqual(Object.keys(first.body).sort(), ['allowlist', 'assignments', 'blocklist', 'exclusions', 'generatedAt', 'restrictions', 'version']);
    assert.equal(first.body.blocklist[0].cidr, '198.51.100.0/24');
    const notModified = await request(app).get('/api/v1/routing/snapshot').set(auth()).set('If-None-Match', first.headers.etag!);
    assert.equal(notModified.status, 304);
    assert.equal(notModified.text, '');

    await removeListing(ctx, '198.51.100.23', 'test');
    const second = await request(app).get('/api/v1/routing/snapshot').set(auth()).set('If-None-Match', first.headers.etag!).expect(200);
    assert.notEqual(second.headers.etag, first.headers.etag);
    assert.equal(second.body.version, first.body.version + 1);
    assert.deepEqual(second.body.exclusions.map((x: { cidr: string }) => x.cidr), ['198.51.100.23']);
  });

  it('gives the changes after a version in order, and nothing after the current one', async () => {
    const all = await request(app).get('/api/v1/routing/feed?after=0').set(auth()).expect(200);
    assert.equal(all.body.version, 2);
    assert.deepEqual(all.body.entries.map((e: { version: number }) => e.version), [1, 2]);
    assert.equal(all.body.entries[0].changes[0].op, 'upsert');
    assert.equal(all.body.entries[1].changes[0].dataset, 'exclusions');
    const tail = await request(app).get('/api/v1/routing/feed?after=1').set(auth()).expect(200);
    assert.deepEqual(tail.body.entries.map((e: { version: number }) => e.version), [2]);
    const none = await request(app).get('/api/v1/routing/feed?after=2').set(auth()).expect(200);
    assert.deepEqual(none.body.entries, []);
  });

  it('answers 410 once the asked-for version was trimmed from the feed', async () => {
    for (let i = 1; i <= 5; i++) await addListing(ctx, { target: `192.0.2.${i}`, category: 'manual', source: 'test', by: 'test' });
    await ctx.routing.trimFeed(2);
    const gone = await request(app).get('/api/v1/routing/feed?after=1').set(auth()).expect(410);
    assert.equal(gone.body.code, 'FEED_VERSION_GONE');
    assert.equal(gone.body.details.version, 7);
    const recent = await request(app).get('/api/v1/routing/feed?after=5').set(auth()).expect(200);
    assert.deepEqual(recent.body.entries.map((e: { version: number }) => e.version), [6, 7]);
  });

  it('refuses a malformed feed cursor with 400 JSON', async () => {
    for (const q of ['', '?after=abc', '?after=-1', '?after=1e3', '?after=1&limit=0']) {
      const res = await request(app).get(`/api/v1/routing/feed${q}`).set(auth()).expect(400);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
    }
  });

  it('checks an address without a token: listed with the entry, excluded or unlisted without one', async () => {
    const listed = await request(app).get('/api/v1/blocklist/check/198.51.100.24').expect(200);
    assert.deepEqual([listed.body.ip, listed.body.listed, listed.body.entry.cidr], ['198.51.100.24', true, '198.51.100.0/24']);
    const mapped = await request(app).get('/api/v1/blocklist/check/::ffff:198.51.100.24').expect(200);
    assert.equal(mapped.body.ip, '198.51.100.24');
    assert.equal(mapped.body.listed, true);
    const excluded = await request(app).get('/api/v1/blocklist/check/198.51.100.23').expect(200);
    assert.deepEqual(excluded.body, { ip: '198.51.100.23', listed: false });
    const bad = await request(app).get('/api/v1/blocklist/check/999.1.1.1').expect(400);
    assert.equal(bad.body.code, 'VALIDATION_FAILED');
  });

  it('answers unknown API paths with 404 JSON', async () => {
    const res = await request(app).get('/api/v1/nope').expect(404).expect('content-type', /json/);
    assert.equal(res.body.code, 'NOT_FOUND');
  });
});
