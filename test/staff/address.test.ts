import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addListing, removeListing } from '../../src/features/blocklist/service.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { createApp } from '../../src/app.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { signedIn } from '../helpers/staff.js';

describe('the staff address page', () => {
  let ctx: TestContext;
  let viewer: Awaited<ReturnType<typeof signedIn>>;
  before(async () => {
    ctx = testContext();
    viewer = await signedIn(ctx, createApp(ctx), 'viewer@example.net', 'viewer');
  });
  after(() => ctx.cleanup());

  it('shows every listing and delisting of an address no longer listed, with who and why, and the requests that named it', async () => {
    for (let i = 0; i < 4; i++) {
      await addListing(ctx, { target: '198.51.100.99', category: 'spam-source', source: 'test', by: `lister-${i}`, reason: `round ${i}` });
      await removeListing(ctx, '198.51.100.99', `remover-${i}`, `cleaned ${i}`);
    }
    await addListing(ctx, { target: '198.51.100.0/24', category: 'snowshoe', source: 'test', by: 'range-lister' });
    await removeListing(ctx, '198.51.100.0/24', 'range-remover', 'range done');
    await requestDelist(ctx, { email: 'owner@example.org', ip: '198.51.100.99' });
    const page = await viewer.agent.get('/staff/address/198.51.100.99').expect(200);
    assert.match(page.text, /Not listed\./);
    assert.equal((page.text.match(/<td>listed<\/td>/g) ?? []).length, 5, 'four listings of the address and one of its range');
    assert.equal((page.text.match(/<td>removed<\/td>/g) ?? []).length, 5);
    for (const who of ['remover-3', 'range-lister', 'cleaned 2']) assert.ok(page.text.includes(who), who);
    assert.match(page.text, /owner@example\.org/);
    assert.match(page.text, /Self-delists: 0 of \d+ used/);
  });

  it('answers a bad address with a 400 inside the console', async () => {
    const bad = await viewer.agent.get('/staff/address/not-an-ip');
    assert.equal(bad.status, 400);
    assert.match(bad.text, /Triage queue/);
  });
});
