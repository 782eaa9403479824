import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/app.js';
import { parseAddress } from '../../src/domain/ip.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { confirmDelist, requestDelist } from '../../src/features/delist/service.js';
import { processDelist } from '../../worker/processors/delist.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { delistToken, requestIdsAt } from '../helpers/portal.js';
import { signedIn } from '../helpers/staff.js';

type Agent = Awaited<ReturnType<typeof signedIn>>;

/**
 * Issue 13, item 7: a triager could remove (or exclude inside) an admin-only /8 listing. What only an admin may list
 * (wider than /16 for IPv4, /32 for IPv6), only an admin may remove, change or punch a hole into, on the lists page
 * and through a ticket alike.
 */
describe('wide listings: removing or excluding inside needs the admin role', () => {
  let ctx: TestContext;
  let triager: Agent;
  let admin: Agent;
  before(async () => {
    ctx = testContext();
    const app = createApp(ctx);
    triager = await signedIn(ctx, app, 'tri@example.net', 'triager');
    admin = await signedIn(ctx, app, 'adm@example.net', 'admin');
    await addListing(ctx, { target: '198.0.0.0/8', category: 'botnet', source: 'test', by: 'test' });
    await addListing(ctx, { target: '2001:db0::/28', category: 'manual', source: 'test', by: 'test' });
    await addListing(ctx, { target: '192.0.2.0/24', category: 'manual', source: 'test', by: 'test' });
  });
  after(() => ctx.cleanup());

  const post = (who: Agent, path: string, body: Record<string, string>) => who.agent.post(path).type('form').send({ _csrf: who.csrf, ...body });
  const listed = async (ip: string) => (await ctx.blocklist.lookup(parseAddress(ip))).listed;

  it('refuses a triager removing a /8 listing', async () => {
    const res = await post(triager, '/staff/lists/blocklist/remove', { target: '198.0.0.0/8', reason: 'x' });
    assert.equal(res.status, 403);
    assert.match(res.text, /admin role/);
    assert.ok(await ctx.blocklist.getListing('198.0.0.0/8'));
  });

  it('refuses a triager excluding an address or a range inside a /8 listing (IPv6 wider than /32 too)', async () => {
    for (const target of ['198.51.100.7', '198.51.100.0/24', '2001:db8::9']) {
      const res = await post(triager, '/staff/lists/blocklist/remove', { target, reason: 'x' });
      assert.equal(res.status, 403, target);
      assert.equal(await ctx.blocklist.getExclusion(target), null, target);
    }
    assert.equal(await listed('198.51.100.7'), true);
    assert.equal(await listed('2001:db8::9'), true);
  });

  it('refuses a triager changing the /8 listing (its category or expiry)', async () => {
    const res = await post(triager, '/staff/lists/blocklist/add', { target: '198.0.0.0/8', category: 'spam-source', expires: '1d' });
    assert.equal(res.status, 403);
    assert.equal((await ctx.blocklist.getListing('198.0.0.0/8'))!.category, 'botnet');
  });

  it('still lets a triager exclude inside a narrow listing', async () => {
    assert.equal((await post(triager, '/staff/lists/blocklist/remove', { target: '192.0.2.9', reason: 'checked' })).status, 303);
    assert.equal(await listed('192.0.2.9'), false);
  });

  it('lets an admin exclude inside the /8 and remove it', async () => {
    assert.equal((await post(admin, '/staff/lists/blocklist/remove', { target: '198.51.100.7', reason: 'checked' })).status, 303);
    assert.equal(await listed('198.51.100.7'), false);
    assert.equal(await listed('198.51.100.8'), true);
    assert.equal((await post(admin, '/staff/lists/blocklist/remove', { target: '2001:db0::/28', reason: 'gone' })).status, 303);
    assert.equal(await listed('2001:db8::9'), false);
  });

  /** A self-service delist request for `ip`, run as the worker would; returns its ticket id when it went to review. */
  async function delistRequest(ip: string): Promise<{ state: string; ticketId?: string }> {
    const now = new Date();
    await requestDelist(ctx, { email: `owner-${ip.replace(/[.:]/g, '-')}@example.com`, ip }, now);
    const id = (await requestIdsAt(ctx, now))[0]!;
    const requestId = await confirmDelist(ctx, await delistToken(ctx, id), now);
    const state = await processDelist(ctx, { requestId }, now);
    const request = await ctx.requests.get(requestId);
    return { state, ...(request?.ticketId && { ticketId: request.ticketId }) };
  }

  it('refuses a triager approving a delist review inside the /8 botnet listing; an admin may', async () => {
    const { state, ticketId } = await delistRequest('198.51.100.20');
    assert.equal(state, 'needs_review');
    const refused = await post(triager, `/staff/tickets/${ticketId}/action`, { action: 'approve-delist' });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /admin role/);
    assert.equal(await listed('198.51.100.20'), true);
    assert.equal((await ctx.tickets.get(ticketId!))!.state, 'open');
    assert.equal((await post(admin, `/staff/tickets/${ticketId}/action`, { action: 'approve-delist' })).status, 303);
    assert.equal(await listed('198.51.100.20'), false);
  });

  it('lets a triager approve a review inside a narrow listing', async () => {
    await addListing(ctx, { target: '203.0.113.200', category: 'botnet', source: 'test', by: 'test' });
    const { state, ticketId } = await delistRequest('203.0.113.200');
    assert.equal(state, 'needs_review');
    assert.equal((await post(triager, `/staff/tickets/${ticketId}/action`, { action: 'approve-delist' })).status, 303);
    assert.equal(await listed('203.0.113.200'), false);
  });

  it('keeps self-service inside a wide listing of a self-removable category (the policy decides by category)', async () => {
    await addListing(ctx, { target: '203.0.0.0/8', category: 'spam-source', source: 'test', by: 'test' });
    await addListing(ctx, { target: '2001:dc0::/28', category: 'spam-source', source: 'test', by: 'test' });
    for (const ip of ['203.0.113.250', '2001:dc0::77']) {
      assert.equal((await delistRequest(ip)).state, 'delisted', ip);
      assert.equal(await listed(ip), false, ip);
      assert.equal((await ctx.blocklist.getExclusion(ip))?.source, 'self-service', ip);
    }
    assert.equal(await listed('203.0.113.251'), true);
  });
});
