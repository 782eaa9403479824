import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { candidateKeys, networkOf, parseAddress, parseNetwork, type Address } from '../../src/domain/ip.js';
import { decide, latestExpiry, planListing, planOrphanedExclusions, planRemoval, planSelfDelist, type BlockEntry, type Exclusion, type RoutingChange, type Verdict } from '../../src/domain/listing.js';
import { liftRefusal, listingTargetRefusal } from '../../src/domain/guardrails.js';
import { loadPolicy } from '../../src/policy.js';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const BEFORE_NOW = '2025-06-01T11:59:59.000Z';
const AFTER_NOW = '2025-06-02T12:00:00.000Z';

function listing(cidr: string, over: Partial<BlockEntry> = {}): BlockEntry {
  assert.equal(parseNetwork(cidr).text, cidr, 'test fixture must use canonical CIDR text');
  return { cidr, category: 'spam-source', reason: 'Spam was sent from here.', source: 'test', listedAt: '2025-05-01T00:00:00.000Z', expiresAt: null, ...over };
}

function exclusion(cidr: string, over: Partial<Exclusion> = {}): Exclusion {
  assert.equal(parseNetwork(cidr).text, cidr, 'test fixture must use canonical CIDR text');
  return { cidr, reason: 'delisted', source: 'test', createdAt: '2025-05-02T00:00:00.000Z', expiresAt: null, ...over };
}

/** The routing datasets as the store keeps them: entries keyed by canonical CIDR text. */
interface State {
  listings: Map<string, BlockEntry>;
  exclusions: Map<string, Exclusion>;
}

function stateOf(listings: BlockEntry[], exclusions: Exclusion[] = []): State {
  return { listings: new Map(listings.map((e) => [e.cidr, e])), exclusions: new Map(exclusions.map((e) => [e.cidr, e])) };
}

/** What the blocklist store does: fetch every candidate key of the address, most specific first, then decide(). */
function lookup(state: State, address: string | Address, now = NOW): Verdict {
  const keys = candidateKeys(typeof address === 'string' ? parseAddress(address) : address);
  const found = <T>(map: Map<string, T>): T[] => keys.flatMap((k) => (map.has(k) ? [map.get(k)!] : []));
  return decide(found(state.listings), found(state.exclusions), now);
}

function apply(state: State, changes: RoutingChange[]): State {
  const next: State = { listings: new Map(state.listings), exclusions: new Map(state.exclusions) };
  for (const change of changes) {
    if (change.op === 'remove') {
      if (change.dataset === 'blocklist') next.listings.delete(change.key);
      else if (change.dataset === 'exclusions') next.exclusions.delete(change.key);
    } else if (change.dataset === 'blocklist') next.listings.set(change.key, change.value);
    else if (change.dataset === 'exclusions') next.exclusions.set(change.key, change.value);
  }
  return next;
}

const meta = { reason: 'self-delisted (request r1)', source: 'self-service', now: NOW };

describe('decide', () => {
  it('says not listed, with neither listing nor exclusion, when nothing covers the address', () => {
    const verdict = decide([], [], NOW);
    assert.deepEqual(verdict, { listed: false });
  });

  it('lists an address covered by a live listing and reports that listing', () => {
    const entry = listing('198.51.100.0/24');
    const verdict = lookup(stateOf([entry]), '198.51.100.7');
    assert.equal(verdict.listed, true);
    assert.deepEqual(verdict.listing, entry);
    assert.equal(verdict.exclusion, undefined);
  });

  it('does not list an address outside every listing', () => {
    assert.equal(lookup(stateOf([listing('198.51.100.0/24')]), '198.51.101.7').listed, false);
  });

  it('reports the longest-prefix listing when several cover the address', () => {
    const state = stateOf([listing('198.51.0.0/16', { category: 'botnet' }), listing('198.51.100.0/24'), listing('198.0.0.0/8', { category: 'manual' })]);
    const verdict = lookup(state, '198.51.100.7');
    assert.equal(verdict.listed, true);
    assert.equal(verdict.listing?.cidr, '198.51.100.0/24');
    assert.equal(verdict.listing?.category, 'spam-source');
  });

  it('a more specific exclusion inside a listing means not listed, and both are reported', () => {
    const state = stateOf([listing('198.51.0.0/16')], [exclusion('198.51.100.0/24')]);
    const verdict = lookup(state, '198.51.100.7');
    assert.equal(verdict.listed, false);
    assert.equal(verdict.listing?.cidr, '198.51.0.0/16');
    assert.equal(verdict.exclusion?.cidr, '198.51.100.0/24');
    assert.equal(lookup(state, '198.51.101.7').listed, true, 'the rest of the /16 stays listed');
  });

  it('an exclusion beats a listing of the same prefix', () => {
    const state = stateOf([listing('198.51.100.0/24')], [exclusion('198.51.100.0/24')]);
    assert.equal(lookup(state, '198.51.100.7').listed, false);
    const single = stateOf([listing('198.51.100.7')], [exclusion('198.51.100.7')]);
    assert.equal(lookup(single, '198.51.100.7').listed, false);
  });

  it('a wider exclusion does not beat a more specific listing', () => {
    const state = stateOf([listing('198.51.100.0/24')], [exclusion('198.51.0.0/16')]);
    const verdict = lookup(state, '198.51.100.7');
    assert.equal(verdict.listed, true);
    assert.equal(verdict.listing?.cidr, '198.51.100.0/24');
    assert.equal(verdict.exclusion?.cidr, '198.51.0.0/16');
  });

  it('a more specific listing inside an exclusion is listed again (rbldnsd trie semantics)', () => {
    const state = stateOf([listing('198.51.0.0/16'), listing('198.51.100.7')], [exclusion('198.51.100.0/24')]);
    const inner = lookup(state, '198.51.100.7');
    assert.equal(inner.listed, true);
    assert.equal(inner.listing?.cidr, '198.51.100.7');
    assert.equal(lookup(state, '198.51.100.8').listed, false, 'the rest of the exclusion stays excluded');
    assert.equal(lookup(state, '198.51.7.1').listed, true, 'the rest of the /16 stays listed');
  });

  it('applies the same rules to IPv6', () => {
    const state = stateOf([listing('2001:db8::/32'), listing('2001:db8:0:1::5')], [exclusion('2001:db8:0:1::/64')]);
    assert.equal(lookup(state, '2001:db8:0:2::1').listed, true);
    assert.equal(lookup(state, '2001:db8:0:1::1').listed, false);
    assert.equal(lookup(state, '2001:db8:0:1::5').listed, true);
    assert.equal(lookup(state, '2001:db9::1').listed, false);
  });

  it('ignores a listing that expired before now', () => {
    const verdict = lookup(stateOf([listing('198.51.100.0/24', { expiresAt: BEFORE_NOW })]), '198.51.100.7');
    assert.equal(verdict.listed, false);
    assert.equal(verdict.listing, undefined);
  });

  it('falls back to a wider live listing when the more specific one has expired', () => {
    const state = stateOf([listing('198.51.100.7', { expiresAt: BEFORE_NOW }), listing('198.51.0.0/16')]);
    const verdict = lookup(state, '198.51.100.7');
    assert.equal(verdict.listed, true);
    assert.equal(verdict.listing?.cidr, '198.51.0.0/16');
  });

  it('ignores an expired exclusion, so the listing applies again', () => {
    const state = stateOf([listing('198.51.0.0/16')], [exclusion('198.51.100.7', { expiresAt: BEFORE_NOW })]);
    const verdict = lookup(state, '198.51.100.7');
    assert.equal(verdict.listed, true);
    assert.equal(verdict.exclusion, undefined);
  });

  it('uses a wider live exclusion when the more specific exclusion has expired', () => {
    const state = stateOf([listing('198.51.0.0/16')], [exclusion('198.51.100.7', { expiresAt: BEFORE_NOW }), exclusion('198.51.100.0/24')]);
    const verdict = lookup(state, '198.51.100.7');
    assert.equal(verdict.listed, false);
    assert.equal(verdict.exclusion?.cidr, '198.51.100.0/24');
  });

  it('counts entries expiring after now as live', () => {
    const state = stateOf([listing('198.51.100.0/24', { expiresAt: AFTER_NOW })], [exclusion('198.51.100.9', { expiresAt: AFTER_NOW })]);
    assert.equal(lookup(state, '198.51.100.7').listed, true);
    assert.equal(lookup(state, '198.51.100.9').listed, false);
  });

  it('treats an entry expiring exactly at now as expired', () => {
    const state = stateOf([listing('198.51.100.0/24', { expiresAt: NOW.toISOString() })]);
    assert.equal(lookup(state, '198.51.100.7').listed, false);
  });

  it('judges expiry against the given now, not the wall clock', () => {
    const state = stateOf([listing('198.51.100.0/24', { expiresAt: '2001-01-01T00:00:00.000Z' })]);
    assert.equal(lookup(state, '198.51.100.7', new Date('2000-06-01T00:00:00.000Z')).listed, true);
    assert.equal(lookup(state, '198.51.100.7', new Date('2001-06-01T00:00:00.000Z')).listed, false);
  });

  it('agrees with a brute-force longest-prefix oracle for random listings and exclusions', () => {
    const entryArb = fc.record({ prefix: fc.integer({ min: 0, max: 32 }), exclusion: fc.boolean(), expired: fc.boolean() });
    fc.assert(
      fc.property(fc.ipV4(), fc.array(entryArb, { maxLength: 12 }), (text, entries) => {
        const addr = parseAddress(text);
        const listings: BlockEntry[] = [];
        const exclusions: Exclusion[] = [];
        for (const e of entries) {
          const cidr = networkOf(addr, e.prefix).text;
          const expiresAt = e.expired ? BEFORE_NOW : AFTER_NOW;
          if (e.exclusion) exclusions.push(exclusion(cidr, { expiresAt }));
          else listings.push(listing(cidr, { expiresAt }));
        }
        // Oracle: the longest live prefix decides; at that length an exclusion wins.
        const live = entries.filter((e) => !e.expired);
        const longest = Math.max(-1, ...live.map((e) => e.prefix));
        const atLongest = live.filter((e) => e.prefix === longest);
        const expected = atLongest.length > 0 && atLongest.every((e) => !e.exclusion);

        const byPrefixDesc = <T extends { cidr: string }>(xs: T[]) => [...xs].sort((a, b) => parseNetwork(b.cidr).prefix - parseNetwork(a.cidr).prefix);
        const verdict = decide(byPrefixDesc(listings), byPrefixDesc(exclusions), NOW);
        assert.equal(verdict.listed, expected);
        if (verdict.listed) assert.equal(parseNetwork(verdict.listing!.cidr).prefix, longest);
      }),
    );
  });
});

describe('planRemoval', () => {
  it('removes an exact listing instead of excluding it', () => {
    const state = stateOf([listing('198.51.100.7')]);
    const changes = planRemoval(parseNetwork('198.51.100.7'), lookup(state, '198.51.100.7'), meta);
    assert.deepEqual(changes, [{ dataset: 'blocklist', op: 'remove', key: '198.51.100.7' }]);
    assert.equal(lookup(apply(state, changes!), '198.51.100.7').listed, false);
  });

  it('removes an exact range listing when the target is that range', () => {
    const state = stateOf([listing('198.51.100.0/24')]);
    const changes = planRemoval(parseNetwork('198.51.100.0/24'), lookup(state, '198.51.100.0'), meta);
    assert.deepEqual(changes, [{ dataset: 'blocklist', op: 'remove', key: '198.51.100.0/24' }]);
  });

  it('creates an exclusion, not a hole, for an address inside a wider listing', () => {
    const state = stateOf([listing('198.51.100.0/24')]);
    const changes = planRemoval(parseNetwork('198.51.100.7'), lookup(state, '198.51.100.7'), meta);
    assert.deepEqual(changes, [
      {
        dataset: 'exclusions',
        op: 'upsert',
        key: '198.51.100.7',
        value: { cidr: '198.51.100.7', reason: meta.reason, source: meta.source, createdAt: NOW.toISOString(), expiresAt: null },
      },
    ]);
    const after = apply(state, changes!);
    assert.ok(after.listings.has('198.51.100.0/24'), 'the range listing is kept');
    assert.equal(lookup(after, '198.51.100.7').listed, false);
    assert.equal(lookup(after, '198.51.100.8').listed, true);
  });

  it('creates an exclusion for a sub-range inside a wider listing', () => {
    const state = stateOf([listing('198.51.0.0/16')]);
    const changes = planRemoval(parseNetwork('198.51.100.0/28'), lookup(state, '198.51.100.0'), meta);
    assert.equal(changes?.length, 1);
    assert.equal(changes?.[0]?.dataset, 'exclusions');
    assert.equal(changes?.[0]?.key, '198.51.100.0/28');
    const after = apply(state, changes!);
    assert.equal(lookup(after, '198.51.100.15').listed, false);
    assert.equal(lookup(after, '198.51.100.16').listed, true);
  });

  it('creates an exclusion for an IPv6 address inside a listed /48', () => {
    const state = stateOf([listing('2001:db8:25::/48')]);
    const changes = planRemoval(parseNetwork('2001:db8:25::7'), lookup(state, '2001:db8:25::7'), meta);
    assert.equal(changes?.[0]?.dataset, 'exclusions');
    assert.equal(changes?.[0]?.key, '2001:db8:25::7');
    const after = apply(state, changes!);
    assert.equal(lookup(after, '2001:db8:25::7').listed, false);
    assert.equal(lookup(after, '2001:db8:25::8').listed, true);
  });

  it('returns null when nothing lists the address', () => {
    assert.equal(planRemoval(parseNetwork('198.51.100.7'), { listed: false }, meta), null);
    assert.equal(planRemoval(parseNetwork('198.51.100.7'), lookup(stateOf([listing('203.0.113.0/24')]), '198.51.100.7'), meta), null);
  });

  it('returns null when the covering listing is already excluded', () => {
    const verdict = lookup(stateOf([listing('198.51.100.0/24')], [exclusion('198.51.100.7')]), '198.51.100.7');
    assert.ok(verdict.listing, 'precondition: the verdict still reports the listing');
    assert.equal(planRemoval(parseNetwork('198.51.100.7'), verdict, meta), null);
  });

  it('returns null when the only listing has expired', () => {
    const verdict = lookup(stateOf([listing('198.51.100.7', { expiresAt: BEFORE_NOW })]), '198.51.100.7');
    assert.equal(planRemoval(parseNetwork('198.51.100.7'), verdict, meta), null);
  });

  it('property: delisting a random address inside a random IPv4 /8../24 listing excludes just that address', () => {
    const arb = fc
      .record({ value: fc.integer({ min: 0, max: 0xffffffff }), prefix: fc.integer({ min: 8, max: 24 }), a: fc.nat(), b: fc.nat() })
      .map(({ value, prefix, a, b }) => {
        const net = networkOf(parseAddress(dotted(value)), prefix);
        const size = 2 ** (32 - prefix);
        const offsetA = a % size;
        const offsetB = (offsetA + 1 + (b % (size - 1))) % size; // any other address of the range
        return { net, target: parseAddress(dotted(Number(net.base) + offsetA)), other: parseAddress(dotted(Number(net.base) + offsetB)) };
      });
    fc.assert(
      fc.property(arb, ({ net, target, other }) => {
        assert.notEqual(target.text, other.text);
        const state = stateOf([listing(net.text)]);
        const before = lookup(state, target);
        assert.equal(before.listed, true);

        const changes = planRemoval(networkOf(target, 32), before, meta);
        assert.ok(changes, 'a listed address must have a removal plan');
        assert.equal(changes.length, 1);
        const [change] = changes;
        assert.equal(change?.dataset, 'exclusions');
        assert.equal(change?.op, 'upsert');
        assert.equal(change?.key, target.text);

        const after = apply(state, changes);
        assert.deepEqual([...after.listings.keys()], [net.text], 'the range listing is untouched');
        const verdict = lookup(after, target);
        assert.equal(verdict.listed, false);
        assert.equal(verdict.exclusion?.cidr, target.text);
        const neighbour = lookup(after, other);
        assert.equal(neighbour.listed, true);
        assert.equal(neighbour.listing?.cidr, net.text);
      }),
    );
  });
});

describe('planListing', () => {
  it('upserts the entry when no exclusion of exactly that network exists', () => {
    const entry = listing('198.51.100.0/24');
    assert.deepEqual(planListing(entry, undefined), [{ dataset: 'blocklist', op: 'upsert', key: '198.51.100.0/24', value: entry }]);
  });

  it('lifts an exact exclusion so the new listing takes effect', () => {
    const entry = listing('198.51.100.7');
    const excl = exclusion('198.51.100.7');
    const state = stateOf([listing('198.51.100.0/24')], [excl]);
    assert.equal(lookup(state, '198.51.100.7').listed, false, 'precondition: excluded');

    const changes = planListing(entry, excl);
    assert.deepEqual(changes, [
      { dataset: 'blocklist', op: 'upsert', key: '198.51.100.7', value: entry },
      { dataset: 'exclusions', op: 'remove', key: '198.51.100.7' },
    ]);
    const after = apply(state, changes);
    assert.equal(lookup(after, '198.51.100.7').listed, true);
    assert.equal(after.exclusions.size, 0);
  });

  it('without lifting the exclusion the same-prefix exclusion would still win', () => {
    const entry = listing('198.51.100.7');
    const state = stateOf([], [exclusion('198.51.100.7')]);
    assert.equal(lookup(apply(state, planListing(entry, undefined)), '198.51.100.7').listed, false);
    assert.equal(lookup(apply(state, planListing(entry, exclusion('198.51.100.7'))), '198.51.100.7').listed, true);
  });
});

function dotted(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

describe('planSelfDelist', () => {
  const host = (ip: string) => parseNetwork(ip);

  it('removes the address\'s own listing when nothing wider covers it', () => {
    const state = stateOf([listing('198.51.100.7')]);
    const changes = planSelfDelist(host('198.51.100.7'), lookup(state, '198.51.100.7'), meta);
    assert.deepEqual(changes, [{ dataset: 'blocklist', op: 'remove', key: '198.51.100.7' }]);
    assert.equal(lookup(apply(state, changes!), '198.51.100.7').listed, false);
  });

  it('leaves the address unlisted even when a wider listing also covers its own listing', () => {
    const state = stateOf([listing('198.51.100.7'), listing('198.51.100.0/24')]);
    const changes = planSelfDelist(host('198.51.100.7'), lookup(state, '198.51.100.7'), meta)!;
    const after = apply(state, changes);
    assert.equal(lookup(after, '198.51.100.7').listed, false);
    assert.equal(lookup(after, '198.51.100.8').listed, true);
    assert.equal(after.listings.has('198.51.100.7'), false);
  });

  it('returns null when the address is not listed', () => {
    assert.equal(planSelfDelist(host('198.51.100.7'), lookup(stateOf([]), '198.51.100.7'), meta), null);
  });
});

describe('decide: listings in effect', () => {
  it('reports every listing still in effect, most specific first, and none once excluded', () => {
    const state = stateOf([listing('198.51.100.7'), listing('198.51.100.0/24'), listing('198.51.0.0/16')], [exclusion('198.51.100.0/25')]);
    assert.deepEqual(lookup(state, '198.51.100.7').covering?.map((e) => e.cidr), ['198.51.100.7']);
    assert.deepEqual(lookup(stateOf([listing('198.51.100.7'), listing('198.51.0.0/16')]), '198.51.100.7').covering?.map((e) => e.cidr), ['198.51.100.7', '198.51.0.0/16']);
    assert.equal(lookup(stateOf([listing('198.51.100.0/24')], [exclusion('198.51.100.7')]), '198.51.100.7').covering, undefined);
  });
});

describe('self-service exclusions belong to the listings they punch (issue 13)', () => {
  const host = (ip: string) => parseNetwork(ip);
  const staffMeta = { reason: 'approved on a ticket', source: 'staff', now: NOW };

  it('latestExpiry: the latest of the expiries, or never when one never expires', () => {
    assert.equal(latestExpiry([{ expiresAt: BEFORE_NOW }, { expiresAt: AFTER_NOW }]), AFTER_NOW);
    assert.equal(latestExpiry([{ expiresAt: AFTER_NOW }, { expiresAt: null }]), null);
    assert.equal(latestExpiry([]), null);
  });

  it('a self-service exclusion expires with the last listing it punches; a staff one never', () => {
    const state = stateOf([listing('198.51.100.0/24', { expiresAt: AFTER_NOW }), listing('198.51.0.0/16', { expiresAt: '2025-06-03T00:00:00.000Z' })]);
    const self = planSelfDelist(host('198.51.100.7'), lookup(state, '198.51.100.7'), meta)!;
    assert.deepEqual(self, [{ dataset: 'exclusions', op: 'upsert', key: '198.51.100.7', value: { cidr: '198.51.100.7', reason: meta.reason, source: 'self-service', createdAt: NOW.toISOString(), expiresAt: '2025-06-03T00:00:00.000Z' } }]);
    const staff = planSelfDelist(host('198.51.100.7'), lookup(state, '198.51.100.7'), staffMeta)!;
    assert.equal((staff[0] as { value: Exclusion }).value.expiresAt, null);
    // The address's own listing is removed, not punched: it does not lengthen the hole.
    const own = stateOf([listing('198.51.100.7', { expiresAt: null }), listing('198.51.100.0/24', { expiresAt: AFTER_NOW })]);
    const changes = planSelfDelist(host('198.51.100.7'), lookup(own, '198.51.100.7'), meta)!;
    assert.equal((changes.find((c) => c.dataset === 'exclusions') as { value: Exclusion }).value.expiresAt, AFTER_NOW);
  });

  it('a new listing lifts the self-service exclusions inside it, not the staff ones or those outside', () => {
    const entry = listing('198.51.100.0/24', { category: 'botnet' });
    const inside = [exclusion('198.51.100.7', { source: 'self-service' }), exclusion('198.51.100.8', { source: 'staff@example.net' }), exclusion('198.51.101.7', { source: 'self-service' })];
    const changes = planListing(entry, undefined, inside);
    assert.deepEqual(changes, [
      { dataset: 'blocklist', op: 'upsert', key: '198.51.100.0/24', value: entry },
      { dataset: 'exclusions', op: 'remove', key: '198.51.100.7' },
    ]);
    const after = apply(stateOf([listing('198.51.100.0/24')], inside), changes);
    assert.equal(lookup(after, '198.51.100.7').listed, true);
    assert.equal(lookup(after, '198.51.100.8').listed, false);
  });

  it('removing a listing takes along the self-service exclusions no other listing still needs', () => {
    const removed = parseNetwork('198.51.100.0/24');
    const inside = [exclusion('198.51.100.7', { source: 'self-service' }), exclusion('198.51.100.9', { source: 'self-service' }), exclusion('198.51.100.8', { source: 'staff' })];
    const others: Record<string, BlockEntry[]> = { '198.51.100.7': [listing('198.51.100.0/24')], '198.51.100.9': [listing('198.51.100.0/24'), listing('198.51.0.0/16')], '198.51.100.8': [] };
    assert.deepEqual(planOrphanedExclusions(removed, inside, (e) => others[e.cidr]!), [{ dataset: 'exclusions', op: 'remove', key: '198.51.100.7' }]);
    assert.deepEqual(planOrphanedExclusions(parseNetwork('203.0.113.0/24'), inside, () => []), [], 'only those inside the removed listing');
  });
});

describe('liftRefusal: what only an admin may list, only an admin may lift', () => {
  const policy = loadPolicy();
  it('refuses a triager lifting anything wider than /16 or /32, and lets an admin', () => {
    assert.match(liftRefusal(policy, [{ cidr: '198.51.100.0/24' }, { cidr: '198.0.0.0/8' }], 'triager')!, /198\.0\.0\.0\/8 is wider than \/16.*admin role/);
    assert.match(liftRefusal(policy, [{ cidr: '2001:db0::/28' }], 'triager')!, /admin role/);
    assert.equal(liftRefusal(policy, [{ cidr: '198.51.0.0/16' }, { cidr: '2001:db8::/32' }, { cidr: '192.0.2.7' }], 'triager'), null);
    assert.equal(liftRefusal(policy, [{ cidr: '0.0.0.0/0' }, { cidr: '::/0' }], 'admin'), null);
    assert.match(liftRefusal(policy, [{ cidr: '10.0.0.0/8' }], 'viewer')!, /admin role/);
  });
});

describe('listingTargetRefusal: what a person may not list by mistake', () => {
  const policy = loadPolicy();
  const refusal = (cidr: string) => listingTargetRefusal(policy, parseNetwork(cidr));
  it('refuses private and special-purpose ranges outright, IPv4 and IPv6, whole or in part', () => {
    for (const cidr of ['192.168.1.5', '10.0.0.0/8', '172.16.4.0/24', '127.0.0.1', '100.64.0.1', '169.254.1.1', '224.0.0.1', '0.1.2.3', '240.0.0.1', '255.255.255.255', 'fc00::1', 'fe80::1', '::1', '::']) {
      const r = refusal(cidr);
      assert.ok(r && !r.overridable, cidr);
      assert.match(r.reason, /cannot be listed/);
    }
  });
  it('asks for the override on one of our own outbound pool ranges, and lets public ranges through', () => {
    const ours = refusal('203.0.113.70');
    assert.equal(ours?.overridable, true);
    assert.match(ours!.reason, /203\.0\.113\.64\/26, our own high-risk outbound pool/);
    assert.equal(refusal('203.0.112.0/23')?.overridable, true, 'a range containing a pool overlaps it');
    for (const cidr of ['198.51.100.23', '192.0.2.0/24', '203.0.113.200', '8.8.8.8', '2a00:1450::/32', '2001:db8:1::/48']) assert.equal(refusal(cidr), null, cidr);
  });
});
