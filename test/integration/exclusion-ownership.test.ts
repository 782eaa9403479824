import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addListing, removeListing } from '../../src/features/blocklist/service.js';
import { confirmDelist, requestDelist } from '../../src/features/delist/service.js';
import { parseNetwork } from '../../src/domain/ip.js';
import type { RoutingChange } from '../../src/domain/listing.js';
import { staffAddListing, staffRemoveListing } from '../../src/features/lists/service.js';
import { processDelist } from '../../worker/processors/delist.js';
import { processExpireEntry } from '../../worker/processors/expire-entry.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { delistToken, requestIdsAt } from '../helpers/portal.js';
import type { StaffUser } from '../../src/stores/staff.js';

/**
 * Issue 13, item 7: a self-service exclusion inside a listed range never expired and survived a later staff listing
 * of the range, even as botnet. Exclusions made by self-service now belong to the listings they punch.
 */
describe('self-service exclusions belong to the listing they punch', () => {
  let ctx: TestContext;
  const admin: StaffUser = { email: 'admin@example.net', role: 'admin' } as StaffUser;
  before(() => {
    ctx = testContext();
  });
  after(() => ctx.cleanup());

  let n = 0;
  /** A self-delist of `ip` as the flow runs it: request, confirm, the worker's job. */
  async function selfDelist(ip: string, now = new Date()): Promise<string> {
    const at = new Date(now.getTime() + n++);
    await requestDelist(ctx, { email: `owner-${n}@example.com`, ip }, at);
    const id = (await requestIdsAt(ctx, at))[0]!;
    const requestId = await confirmDelist(ctx, await delistToken(ctx, id), at);
    return processDelist(ctx, { requestId }, at);
  }

  const lookup = (ip: string, now = new Date()) => ctx.blocklist.lookup({ version: parseNetwork(ip).version, value: parseNetwork(ip).base, text: ip }, now);

  /** The snapshot's blocklist and exclusions must be what replaying the whole feed gives (one publish path). */
  async function assertFeedMatchesSnapshot(): Promise<void> {
    const snap = await ctx.routing.snapshot();
    const state = { blocklist: new Map<string, unknown>(), exclusions: new Map<string, unknown>() };
    const page = await ctx.routing.feed(0, 100_000);
    assert.equal(page.gone, false);
    if (page.gone) return;
    for (const entry of page.entries) {
      for (const c of entry.changes as RoutingChange[]) {
        if (c.dataset !== 'blocklist' && c.dataset !== 'exclusions') continue;
        if (c.op === 'upsert') state[c.dataset].set(c.key, c.value);
        else state[c.dataset].delete(c.key);
      }
    }
    // (The address lists come in the table's physical order, the same for every reader of a version: compare as sets.)
    assert.deepEqual([...state.blocklist.keys()].sort(), snap.blocklist.map((e) => e.cidr).sort());
    assert.deepEqual([...state.exclusions.keys()].sort(), snap.exclusions.map((e) => e.cidr).sort());
    // The index of self-service exclusions holds exactly the self-service exclusions of the dataset.
    const indexed = (await ctx.blocklist.selfServiceExclusionsWithin(parseNetwork('0.0.0.0/0'))).concat(await ctx.blocklist.selfServiceExclusionsWithin(parseNetwork('::/0')));
    assert.deepEqual(indexed.map((e) => e.cidr).sort(), snap.exclusions.filter((e) => e.source === 'self-service').map((e) => e.cidr).sort());
  }

  it('gives the exclusion the expiry of the listing it punches, and the listing\'s expiry job takes it along', async () => {
    const { entry } = await addListing(ctx, { target: '198.51.100.0/25', category: 'spam-source', expires: '2d', source: 'test', by: 'test' });
    assert.equal(await selfDelist('198.51.100.9'), 'delisted');
    const exclusion = (await ctx.blocklist.getExclusion('198.51.100.9'))!;
    assert.equal(exclusion.source, 'self-service');
    assert.equal(exclusion.expiresAt, entry.expiresAt, 'it expires with the listing');
    assert.equal((await lookup('198.51.100.9')).listed, false);
    assert.equal((await lookup('198.51.100.10')).listed, true);

    const later = new Date(Date.parse(entry.expiresAt!) + 1000);
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: entry.cidr, stamp: entry.listedAt }, later), 'expired');
    assert.equal(await ctx.blocklist.getListing(entry.cidr), null);
    assert.equal(await ctx.blocklist.getExclusion('198.51.100.9'), null, 'the exclusion went with its listing');
    await assertFeedMatchesSnapshot();
  });

  it('expires with the last of several listings it punches, and stays while one of them is left', async () => {
    const wide = await addListing(ctx, { target: '192.0.2.0/24', category: 'spam-source', expires: '4d', source: 'test', by: 'test' });
    const narrow = await addListing(ctx, { target: '192.0.2.0/28', category: 'spam-source', expires: '1d', source: 'test', by: 'test' });
    assert.equal(await selfDelist('192.0.2.5'), 'delisted');
    assert.equal((await ctx.blocklist.getExclusion('192.0.2.5'))!.expiresAt, wide.entry.expiresAt);

    const afterNarrow = new Date(Date.parse(narrow.entry.expiresAt!) + 1000);
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: narrow.entry.cidr, stamp: narrow.entry.listedAt }, afterNarrow), 'expired');
    assert.ok(await ctx.blocklist.getExclusion('192.0.2.5'), 'the /24 still needs the hole');
    assert.equal((await lookup('192.0.2.5', afterNarrow)).listed, false);
    assert.equal((await lookup('192.0.2.6', afterNarrow)).listed, true);

    const afterWide = new Date(Date.parse(wide.entry.expiresAt!) + 1000);
    assert.equal(await processExpireEntry(ctx, { dataset: 'blocklist', key: wide.entry.cidr, stamp: wide.entry.listedAt }, afterWide), 'expired');
    assert.equal(await ctx.blocklist.getExclusion('192.0.2.5'), null);
    await assertFeedMatchesSnapshot();
  });

  it('a later staff listing of the range as botnet covers the self-delisted address again', async () => {
    await addListing(ctx, { target: '198.51.100.128/25', category: 'spam-source', expires: 'never', source: 'test', by: 'test' });
    assert.equal(await selfDelist('198.51.100.200'), 'delisted');
    assert.equal((await ctx.blocklist.getExclusion('198.51.100.200'))!.expiresAt, null, 'a never-ending listing: the hole lasts as long');
    assert.equal((await lookup('198.51.100.200')).listed, false);

    await staffAddListing(ctx, admin, { target: '198.51.100.128/25', category: 'botnet' });
    const verdict = await lookup('198.51.100.200');
    assert.equal(verdict.listed, true, 'the re-listing covers the address again');
    assert.equal(verdict.listing?.category, 'botnet');
    assert.equal(await ctx.blocklist.getExclusion('198.51.100.200'), null);
    const history = await ctx.blocklist.history('198.51.100.128/25');
    assert.match(history.at(-1)!.detail, /exclusions lifted: 198\.51\.100\.200/);
    await assertFeedMatchesSnapshot();
  });

  it('a new staff listing of a narrower range inside the punched one lifts the holes inside it, not the others', async () => {
    // (203.0.113.0/26 … .128/26 are our own pools; .192/26 is not.)
    await addListing(ctx, { target: '203.0.113.192/26', category: 'spam-source', expires: '7d', source: 'test', by: 'test' });
    assert.equal(await selfDelist('203.0.113.200'), 'delisted');
    assert.equal(await selfDelist('203.0.113.240'), 'delisted');
    await staffAddListing(ctx, admin, { target: '203.0.113.192/28', category: 'botnet', expires: '7d' });
    assert.equal((await lookup('203.0.113.200')).listed, true);
    assert.equal((await lookup('203.0.113.240')).listed, false, 'a hole outside the new listing stays');
    await assertFeedMatchesSnapshot();
  });

  it('removing the listing removes its self-service exclusions; a staff exclusion keeps its own lifetime', async () => {
    await addListing(ctx, { target: '2001:db8:77::/48', category: 'spam-source', expires: '7d', source: 'test', by: 'test' });
    assert.equal(await selfDelist('2001:db8:77::9'), 'delisted');
    await removeListing(ctx, '2001:db8:77::10', 'cli:ops', 'customer relay, checked');
    const staffMade = (await ctx.blocklist.getExclusion('2001:db8:77::10'))!;
    assert.equal(staffMade.expiresAt, null);

    await staffRemoveListing(ctx, admin, '2001:db8:77::/48', 'cleaned up');
    assert.equal(await ctx.blocklist.getExclusion('2001:db8:77::9'), null, 'the self-service hole went with its listing');
    assert.ok(await ctx.blocklist.getExclusion('2001:db8:77::10'), 'the staff exclusion keeps its own lifetime');

    // … and a re-listing does not lift a staff exclusion.
    await staffAddListing(ctx, admin, { target: '2001:db8:77::/48', category: 'botnet' });
    assert.equal((await lookup('2001:db8:77::10')).listed, false);
    assert.equal((await lookup('2001:db8:77::9')).listed, true);
    await assertFeedMatchesSnapshot();
  });

  it('keeps the self-service exclusion when another listing it punched is still there', async () => {
    await addListing(ctx, { target: '2001:db8:88::/48', category: 'spam-source', expires: 'never', source: 'test', by: 'test' });
    await addListing(ctx, { target: '2001:db8:88::/64', category: 'spam-source', expires: 'never', source: 'test', by: 'test' });
    assert.equal(await selfDelist('2001:db8:88::1'), 'delisted');
    await staffRemoveListing(ctx, admin, '2001:db8:88::/64', 'narrowed');
    assert.ok(await ctx.blocklist.getExclusion('2001:db8:88::1'));
    assert.equal((await lookup('2001:db8:88::1')).listed, false);
    assert.equal((await lookup('2001:db8:88::2')).listed, true);
    await assertFeedMatchesSnapshot();
  });
});
