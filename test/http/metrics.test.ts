import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';

/** The values of one metric in a Prometheus text exposition, keyed by their labels (sorted, `k="v"` joined by commas). */
function samples(text: string, name: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels = m[2]!.split(',').sort().join(',');
    found.set(labels, Number(m[3]));
  }
  return found;
}

describe('GET /metrics', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  let token: string;

  before(async () => {
    ctx = testContext();
    app = createApp(ctx);
    token = await ctx.apiTokens.create('prometheus');
  });
  after(() => ctx.cleanup());

  const scrape = async () => (await request(app).get('/metrics').set('Authorization', `Bearer ${token}`).expect(200)).text;
  const post = async (fields: Record<string, string>) => {
    const agent = request.agent(app);
    const form = await agent.get('/delist').expect(200);
    return agent.post('/delist').type('form').send({ _csrf: csrfOf(form), ...fields });
  };
  const delist303 = 'method="POST",route="/delist",status="303"';
  const delist400 = 'method="POST",route="/delist",status="400"';

  it('is for API tokens only', async () => {
    await request(app).get('/metrics').expect(401);
  });

  it('counts requests by method, route and status, and times them by method and route, across scrapes', async () => {
    assert.equal((await post({ email: 'm1@example.org', ip: '198.51.100.61' })).status, 303);
    assert.equal((await post({ email: 'nobody', ip: '198.51.100.61' })).status, 400);
    const first = await scrape();
    const counted = samples(first, 'portal_http_requests_total');
    assert.equal(counted.get(delist303), 1);
    assert.equal(counted.get(delist400), 1);
    assert.equal(counted.get('method="GET",route="/delist",status="200"'), 2);
    assert.equal(samples(first, 'portal_http_request_seconds_count').get('method="POST",route="/delist"'), 2);
    assert.match(first, /# TYPE portal_http_requests_total counter/);

    // A later scrape shows the totals, not what came since the last one.
    assert.equal((await post({ email: 'm2@example.org', ip: '198.51.100.62' })).status, 303);
    const second = samples(await scrape(), 'portal_http_requests_total');
    assert.equal(second.get(delist303), 2);
    assert.equal(second.get(delist400), 1);
    assert.equal(second.get('method="GET",route="/delist",status="200"'), 3);
  });
});
