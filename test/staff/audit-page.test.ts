import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

describe('the audit page reads the audit_log table', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('filters by exact actor, action and target, newest first, 200 a page, with a link to the older ones', async () => {
    const t0 = Date.parse('2026-02-01T00:00:00Z');
    for (let i = 0; i < 205; i++) await ctx.audit.append({ at: new Date(t0 + i * 1000).toISOString(), actor: 'automation:test', action: 'test.tick', target: `t-${i}`, reason: `entry ${i}` });
    await ctx.audit.append({ at: new Date().toISOString(), actor: 'someone@example.net', action: 'test.other', target: 't-1', reason: 'other <b>entry</b>' });
    const { agent } = await signedIn(ctx, app, 'reader@example.net', 'viewer');

    const first = await agent.get('/staff/audit').query({ action: 'test.tick' }).expect(200);
    assert.equal((first.text.match(/<td>test\.tick<\/td>/g) ?? []).length, 200);
    assert.match(first.text, /entry 204<\/td>/, 'newest first');
    assert.doesNotMatch(first.text, /entry 4<\/td>/);
    const older = /href="([^"]+)" rel="next"/.exec(first.text)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(older, 'a link to older entries');
    const second = await agent.get(`/staff/audit${older}`).expect(200);
    assert.equal((second.text.match(/<td>test\.tick<\/td>/g) ?? []).length, 5);
    assert.match(second.text, /entry 0<\/td>/);
    assert.doesNotMatch(second.text, /rel="next"/);

    const byTarget = await agent.get('/staff/audit').query({ target: 't-1' }).expect(200);
    assert.equal((byTarget.text.match(/<tr><td>/g) ?? []).length, 2);
    assert.match(byTarget.text, /other &lt;b&gt;entry&lt;\/b&gt;/, 'escaped');
    const byActor = await agent.get('/staff/audit').query({ actor: 'someone@example.net', target: 't-1' }).expect(200);
    assert.equal((byActor.text.match(/<tr><td>/g) ?? []).length, 1);
    await agent.get('/staff/audit').query({ before: "1' OR 1=1", actor: 'x'.repeat(5000) }).expect(200);
  });
});
