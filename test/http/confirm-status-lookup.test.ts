import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { relayOutbox, delistToken, requestIdsAt } from '../helpers/portal.js';

describe('confirmation link, status and lookup pages', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  /** Makes a delist request the way POST /delist does and returns the token the mail would carry. */
  async function pendingRequest(email: string, ip: string, now = new Date()) {
    await requestDelist(ctx, { email, ip }, now);
    const id = (await requestIdsAt(ctx, now))[0]!;
    return { id, token: await delistToken(ctx, id) };
  }

  it('shows why the IP is listed, since when, and how many self-delists are left, with a Delist IP button', async () => {
    const { entry } = await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });
    const { token } = await pendingRequest('owner@example.com', '198.51.100.23');
    const res = await request(app).get(`/delist/confirm/${token}`).expect(200);
    assert.match(res.text, /Spam was sent to our customers/);
    assert.match(res.text, /as part of <code>198\.51\.100\.0\/24<\/code>/);
    assert.match(res.text, new RegExp(`datetime="${entry.listedAt}"`));
    assert.match(res.text, /3 of 3 in 30 days/);
    assert.match(res.text, /<button type="submit">Delist IP<\/button>/);
    assert.equal(res.headers['referrer-policy'], 'no-referrer');
  });

  it('queues the request once and redirects to its status page; the link then answers 410', async () => {
    const { id, token } = await pendingRequest('again@example.com', '198.51.100.24');
    const agent = request.agent(app);
    const page = await agent.get(`/delist/confirm/${token}`).expect(200);
    const res = await agent.post(`/delist/confirm/${token}`).type('form').send({ _csrf: csrfOf(page) });
    assert.equal(res.status, 303);
    assert.equal(res.headers.location, `/status/${id}`);
    assert.equal((await ctx.requests.get(id))!.state, 'queued');
    await relayOutbox(ctx);
    assert.ok(await ctx.jobs.requests.getJob(`delist-${id}`), 'the delist job was written with the state change');
    assert.equal(await ctx.jobs.requests.getJobCountByTypes('waiting'), 1);

    const reused = await agent.post(`/delist/confirm/${token}`).type('form').send({ _csrf: csrfOf(page) });
    assert.equal(reused.status, 410);
    assert.match(reused.text, /already been used/);
    assert.match(reused.text, new RegExp(`href="/status/${id}"`));
    assert.equal((await agent.get(`/delist/confirm/${token}`)).status, 410);
    assert.equal(await relayOutbox(ctx), 0, 'a used link queues nothing more');
    assert.equal(await ctx.jobs.requests.getJobCountByTypes('waiting'), 1);
  });

  it('answers an expired link with 410 and a way to ask for a new one', async () => {
    const { token } = await pendingRequest('late@example.com', '198.51.100.25', new Date(Date.now() - 61 * 60_000));
    const res = await request(app).get(`/delist/confirm/${token}`).expect(410);
    assert.match(res.text, /expired/);
    assert.match(res.text, /href="\/delist\?ip=198\.51\.100\.25"/);
  });

  it('answers an unknown or malformed link with a readable 404', async () => {
    for (const token of ['x'.repeat(43), 'short', '%3Cscript%3E']) {
      const res = await request(app).get(`/delist/confirm/${token}`);
      assert.equal(res.status, 404);
      assert.match(res.text, /not valid/);
      assert.doesNotMatch(res.text, /<script>/);
    }
  });

  it('gives the status as a page and as {id, type, state, events} JSON', async () => {
    const { id } = await pendingRequest('status@example.com', '198.51.100.26');
    const html = await request(app).get(`/status/${id}`).expect(200).expect('content-type', /html/);
    assert.match(html.text, /Waiting for email confirmation/);
    assert.match(html.text, /s…@example\.com/);
    assert.doesNotMatch(html.text, /status@example\.com/);
    const json = await request(app).get(`/status/${id}`).set('Accept', 'application/json').expect(200);
    assert.equal(json.body.id, id);
    assert.equal(json.body.type, 'delist');
    assert.equal(json.body.state, 'awaiting_confirmation');
    assert.equal(json.body.events.length, 1);
    assert.equal(json.body.email, undefined);
  });

  it('answers an unknown status id with 404, as a page or as JSON', async () => {
    await request(app).get('/status/AAAAAAAAAAAAAAAA').expect(404).expect('content-type', /html/);
    const json = await request(app).get('/status/nope').set('Accept', 'application/json').expect(404);
    assert.equal(json.body.code, 'NOT_FOUND');
  });

  it('looks up an address: listed with the reason and the way out, or not listed', async () => {
    const listed = await request(app).get('/lookup?ip=198.51.100.77').expect(200);
    assert.match(listed.text, /198\.51\.100\.77 is listed/);
    assert.match(listed.text, /href="\/delist\?ip=198\.51\.100\.77"/);
    const clean = await request(app).get('/lookup?ip=2001:db8::1').expect(200);
    assert.match(clean.text, /2001:db8::1 is not listed/);
  });

  it('refuses a lookup of a malformed or private address with a 400 page', async () => {
    const res = await request(app).get('/lookup?ip=192.168.1.1').expect(400);
    assert.match(res.text, /private/);
    await request(app).get('/lookup?ip=%3Cb%3E').expect(400);
  });

  it('answers an unknown page with a 404 page', async () => {
    const res = await request(app).get('/no-such-page').expect(404).expect('content-type', /html/);
    assert.match(res.text, /Not found/);
  });
});
