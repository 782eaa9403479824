import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildMatcher, compile } from '../../src/client/matcher.js';
import { NetworkTable, parseIsoMs, type NetworkChange } from '../../src/client/network-table.js';
import { V6, parseCidr, parseV4, parseV6, cidrFamily, cidrPrefix, CIDR_WORDS } from '../../src/client/ip-fast.js';
import { contains, networkOf, parseAddress, parseNetwork, type IpVersion } from '../../src/domain/ip.js';
import { decide, type BlockEntry, type Exclusion } from '../../src/domain/listing.js';

const NOW = new Date('2030-01-01T00:00:00.000Z');
const PAST = '2029-12-31T23:59:59.999Z';
const FUTURE = '2030-01-01T00:00:00.001Z';

type Entry = { cidr: string; expiresAt: string | null };

const listing = (cidr: string, expiresAt: string | null = null): BlockEntry => ({ cidr, category: 'manual', reason: 'r', source: 't', listedAt: '2029-01-01T00:00:00.000Z', expiresAt });
const exclusion = (cidr: string, expiresAt: string | null = null): Exclusion => ({ cidr, reason: 'r', source: 't', createdAt: '2029-01-01T00:00:00.000Z', expiresAt });

/**
 * The server's own answer: the live entries covering the address, most specific first, through decide() (the
 * store finds them by candidate keys; testing containment against the parsed networks finds the same ones).
 */
function referenceOf(listings: Entry[], exclusions: Entry[], now = NOW): (ip: string) => boolean {
  const parsed = (xs: Entry[]) => xs.map((e) => ({ e, net: parseNetwork(e.cidr) })).sort((a, b) => b.net.prefix - a.net.prefix);
  const l = parsed(listings);
  const x = parsed(exclusions);
  return (ip) => {
    let addr;
    try {
      addr = parseAddress(ip);
    } catch {
      return false;
    }
    const covering = l.filter((c) => contains(c.net, addr)).map((c) => listing(c.net.text, c.e.expiresAt));
    const excluding = x.filter((c) => contains(c.net, addr)).map((c) => exclusion(c.net.text, c.e.expiresAt));
    return decide(covering, excluding, now).listed;
  };
}

const bitsOf = (v: IpVersion) => (v === 4 ? 32 : 128);
const mask = (v: IpVersion) => (1n << BigInt(bitsOf(v))) - 1n;

function v4Text(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
}

/** Full, uncompressed IPv6 text (parsers must not rely on the canonical form). */
function v6Full(value: bigint): string {
  return Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
}

/** Every spelling of an address a client may send: canonical, and for IPv4 the two v4-mapped forms. */
function spellings(v: IpVersion, value: bigint): string[] {
  if (v === 4) {
    const hi = ((value >> 16n) & 0xffffn).toString(16);
    const lo = (value & 0xffffn).toString(16);
    return [v4Text(value), `::ffff:${v4Text(value)}`, `::FFFF:${hi}:${lo}`];
  }
  return [networkOf({ version: 6, value, text: '' }, 128).text, v6Full(value)];
}

/**
 * A random dataset clustered around a few anchors, so networks nest, share prefixes and sit next to each other,
 * with /0, full-length and every length between; exclusions partly reuse listed networks (equal prefixes).
 */
function datasetArb(version: IpVersion) {
  const bits = bitsOf(version);
  const value = fc.bigInt({ min: 0n, max: mask(version) });
  const prefix = fc.oneof(fc.constantFrom(0, 1, bits - 1, bits), fc.integer({ min: 0, max: bits }));
  const expiry = fc.constantFrom<string | null>(null, null, null, PAST, FUTURE);
  return fc.array(value, { minLength: 1, maxLength: 3 }).chain((anchors) => {
    const near = fc.tuple(fc.nat(anchors.length - 1), value, fc.integer({ min: 0, max: bits })).map(([a, noise, k]) => anchors[a]! ^ (noise & ((1n << BigInt(k)) - 1n)));
    const net = fc.tuple(near, prefix, expiry).map(([v, p, expiresAt]) => ({ cidr: networkOf({ version, value: v, text: '' }, p).text, expiresAt }));
    return fc.record({
      listings: fc.uniqueArray(net, { maxLength: 25, selector: (e) => e.cidr }),
      extraExclusions: fc.uniqueArray(net, { maxLength: 12, selector: (e) => e.cidr }),
      reuse: fc.array(fc.tuple(fc.nat(), expiry), { maxLength: 6 }),
      probes: fc.array(near, { maxLength: 25 }),
    });
  }).map(({ listings, extraExclusions, reuse, probes }) => {
    const exclusions = [...extraExclusions];
    for (const [i, expiresAt] of reuse) {
      const l = listings[i % Math.max(1, listings.length)];
      if (l && !exclusions.some((e) => e.cidr === l.cidr)) exclusions.push({ cidr: l.cidr, expiresAt });
    }
    // Probe every edge: each network's first and last address and the addresses just outside.
    const edges = [...listings, ...exclusions].flatMap((e) => {
      const n = parseNetwork(e.cidr);
      const last = n.base | (mask(version) >> BigInt(n.prefix));
      return [n.base, last, n.base - 1n, last + 1n].filter((x) => x >= 0n && x <= mask(version));
    });
    return { listings, exclusions, probes: [...probes, ...edges, 0n, mask(version)] };
  });
}

describe('blocklist matcher', () => {
  it('answers like decide() on random nested IPv4 listings and exclusions, in every spelling', () => {
    fc.assert(
      fc.property(datasetArb(4), ({ listings, exclusions, probes }) => {
        const m = buildMatcher(listings, exclusions, { now: NOW });
        const reference = referenceOf(listings, exclusions);
        for (const p of probes) {
          const want = reference(v4Text(p));
          for (const ip of spellings(4, p)) assert.equal(m.isBlocked(ip), want, `${ip} with ${JSON.stringify({ listings, exclusions })}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('answers like decide() on random nested IPv6 listings and exclusions, prefixes up to /128', () => {
    fc.assert(
      fc.property(datasetArb(6), ({ listings, exclusions, probes }) => {
        const m = buildMatcher(listings, exclusions, { now: NOW });
        const reference = referenceOf(listings, exclusions);
        for (const p of probes) {
          const [canonical] = spellings(6, p);
          const want = reference(canonical!);
          for (const ip of spellings(6, p)) assert.equal(m.isBlocked(ip), want, `${ip} with ${JSON.stringify({ listings, exclusions })}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps IPv4 and IPv6 apart: ::/0 does not list IPv4, 0.0.0.0/0 does not list IPv6', () => {
    const v6all = buildMatcher([{ cidr: '::/0' }]);
    assert.equal(v6all.isBlocked('2001:db8::1'), true);
    assert.equal(v6all.isBlocked('198.51.100.7'), false);
    assert.equal(v6all.isBlocked('::ffff:198.51.100.7'), false, 'v4-mapped is IPv4');
    const v4all = buildMatcher([{ cidr: '0.0.0.0/0' }]);
    assert.equal(v4all.isBlocked('0.0.0.0'), true);
    assert.equal(v4all.isBlocked('255.255.255.255'), true);
    assert.equal(v4all.isBlocked('::ffff:255.255.255.255'), true);
    assert.equal(v4all.isBlocked('::1'), false);
  });

  it('lets the longest prefix win, and an exclusion win at equal length', () => {
    const m = buildMatcher(
      [{ cidr: '198.51.100.0/24' }, { cidr: '198.51.100.16/28' }, { cidr: '203.0.113.0/24' }, { cidr: '2001:db8::/32' }, { cidr: '2001:db8:1::7' }],
      [{ cidr: '198.51.100.0/25' }, { cidr: '203.0.113.0/24' }, { cidr: '2001:db8:1::/48' }],
    );
    assert.equal(m.isBlocked('198.51.100.1'), false, 'the /25 exclusion beats the /24');
    assert.equal(m.isBlocked('198.51.100.17'), true, 'the /28 listing beats the /25 exclusion');
    assert.equal(m.isBlocked('198.51.100.200'), true, 'outside the /25 the /24 holds');
    assert.equal(m.isBlocked('203.0.113.5'), false, 'an exclusion of the same network wins');
    assert.equal(m.isBlocked('2001:db8:2::1'), true);
    assert.equal(m.isBlocked('2001:db8:1::6'), false);
    assert.equal(m.isBlocked('2001:db8:1::7'), true, 'a /128 inside an excluded /48');
    assert.equal(m.isBlocked('2001:db8:1:0:0:0:0:7'), true);
  });

  it('treats adjacent ranges as separate and merges nothing across a gap', () => {
    const m = buildMatcher([{ cidr: '192.0.2.0/25' }, { cidr: '192.0.2.128/25' }, { cidr: '192.0.3.1' }]);
    assert.equal(m.isBlocked('192.0.2.127'), true);
    assert.equal(m.isBlocked('192.0.2.128'), true);
    assert.equal(m.isBlocked('192.0.3.0'), false);
    assert.equal(m.isBlocked('192.0.3.1'), true);
    assert.equal(m.isBlocked('192.0.3.2'), false);
    assert.deepEqual(m.listedRanges().v4, [[0xc0000200, 0xc00002ff], [0xc0000301, 0xc0000301]]);
  });

  it('ignores expired entries and reports when the next one expires', () => {
    const m = buildMatcher(
      [{ cidr: '198.51.100.0/24', expiresAt: PAST }, { cidr: '203.0.113.0/24', expiresAt: FUTURE }, { cidr: '192.0.2.0/24', expiresAt: 'not a date' }],
      [{ cidr: '203.0.113.9', expiresAt: PAST }],
      { now: NOW },
    );
    assert.equal(m.isBlocked('198.51.100.1'), false);
    assert.equal(m.isBlocked('203.0.113.9'), true, 'the expired exclusion no longer applies');
    assert.equal(m.isBlocked('192.0.2.1'), false, 'an unreadable expiry counts as expired');
    assert.equal(m.nextExpiry, Date.parse(FUTURE));
  });

  it('answers false for anything that is not an address, and never throws', () => {
    const m = buildMatcher([{ cidr: '0.0.0.0/0' }, { cidr: '::/0' }]);
    for (const bad of ['', ' ', 'localhost', '198.51.100', '198.51.100.7.1', '198.51.100.07', '256.1.1.1', '198.51.100.7/32', '[2001:db8::1]', 'fe80::1%eth0', '2001:db8:::1', '1::2::3', ':1', '1:', '1:2:3:4:5:6:7:8:9', '::ffff:1.2.3', '12345::', 'g::']) {
      assert.equal(m.isBlocked(bad), false, JSON.stringify(bad));
    }
    assert.equal(m.isBlocked(' 198.51.100.7\n'), true, 'surrounding white space is forgiven, as parseAddress does');
    fc.assert(
      fc.property(fc.anything(), (x) => {
        assert.equal(typeof m.isBlocked(x as string), 'boolean');
      }),
    );
  });

  it('skips unreadable keys instead of failing the build', () => {
    const table = NetworkTable.from([{ cidr: 'nonsense' }, { cidr: '198.51.100.0/33' }, { cidr: '198.51.100.0/24' }]);
    assert.deepEqual(table.skipped, ['nonsense', '198.51.100.0/33']);
    assert.equal(compile(table, 0).isBlocked('198.51.100.1'), true);
  });

  it('builds the same matcher whatever the input order, with thousands of networks crowded into one /39', () => {
    // xorshift32, so the test is the same on every run
    let seed = 12345;
    const next = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
    const nets: Entry[] = [];
    for (let i = 0; i < 6000; i++) {
      const v6 = (0x20010db8n << 96n) | (BigInt(next() & 0x1ff) << 80n) | (BigInt(next()) << 32n) | BigInt(next());
      nets.push({ cidr: networkOf({ version: 6, value: v6, text: '' }, [48, 56, 64, 96, 127, 128][next() % 6]!).text, expiresAt: null });
      nets.push({ cidr: networkOf({ version: 4, value: BigInt(0xc6330000 + (next() & 0xffff)), text: '' }, [16, 20, 24, 28, 32][next() % 5]!).text, expiresAt: null });
    }
    const unique = [...new Map(nets.map((e) => [e.cidr, e])).values()];
    const listings = unique.filter((_, i) => i % 5 !== 0);
    const exclusions = unique.filter((_, i) => i % 5 === 0);
    const shuffled = <T,>(xs: T[]) => xs.map((x) => [next(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
    const a = buildMatcher(listings, exclusions, { now: NOW });
    const b = buildMatcher(shuffled(listings), shuffled(exclusions), { now: NOW });
    assert.deepEqual(b.listedRanges(), a.listedRanges());
    const reference = referenceOf(listings, exclusions);
    for (const e of unique.slice(0, 400)) {
      const n = parseNetwork(e.cidr);
      const ip = n.version === 4 ? v4Text(n.base) : networkOf({ version: 6, value: n.base, text: '' }, 128).text;
      assert.equal(a.isBlocked(ip), reference(ip), ip);
    }
  });

  it('gives the same matcher from a table changed step by step as from the final datasets', () => {
    const cidr = fc.oneof(
      fc.tuple(fc.constantFrom(0xc6336400n, 0xc6336480n, 0xcb007100n), fc.integer({ min: 20, max: 32 })).map(([v, p]) => networkOf({ version: 4, value: v, text: '' }, p).text),
      fc.tuple(fc.constantFrom(0x20010db8n << 96n, (0x20010db8n << 96n) | (1n << 80n)), fc.integer({ min: 28, max: 128 })).map(([v, p]) => networkOf({ version: 6, value: v, text: '' }, p).text),
    );
    const change = fc.record({ cidr, kind: fc.constantFrom<'listing' | 'exclusion'>('listing', 'exclusion'), expires: fc.constantFrom<number | null | 'remove'>(null, 'remove', Date.parse(PAST), Date.parse(FUTURE)) });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 20 }), fc.array(fc.array(change, { maxLength: 8 }), { maxLength: 5 }), (initial, batches) => {
        const state = new Map<string, NetworkChange>();
        const put = (c: NetworkChange) => (c.expires === 'remove' ? state.delete(`${c.kind} ${c.cidr}`) : state.set(`${c.kind} ${c.cidr}`, c));
        initial.filter((c) => c.expires !== 'remove').forEach(put);
        let table = NetworkTable.EMPTY.apply([...state.values()]);
        for (const batch of batches) {
          table = table.apply(batch);
          batch.forEach(put);
        }
        const toEntry = (c: NetworkChange) => ({ cidr: c.cidr, expiresAt: c.expires === null ? null : new Date(c.expires as number).toISOString() });
        const fresh = buildMatcher([...state.values()].filter((c) => c.kind === 'listing').map(toEntry), [...state.values()].filter((c) => c.kind === 'exclusion').map(toEntry), { now: NOW });
        assert.equal(table.size, state.size);
        assert.deepEqual(compile(table, NOW.getTime()).listedRanges(), fresh.listedRanges());
      }),
      { numRuns: 300 },
    );
  });
});

describe('fast address parsers', () => {
  /** parseAddress as the oracle: null when it refuses, else version and value. */
  function oracle(text: string): { version: IpVersion; value: bigint } | null {
    try {
      const a = parseAddress(text);
      return { version: a.version, value: a.value };
    } catch {
      return null;
    }
  }
  /** Ours, in the same shape (no trimming: that is isBlocked's slow path). */
  function ours(text: string): { version: IpVersion; value: bigint } | null {
    const v4 = parseV4(text, 0, text.length);
    if (v4 >= 0) return { version: 4, value: BigInt(v4) };
    if (!parseV6(text, 0, text.length)) return null;
    const value = V6.reduce((acc, w) => (acc << 32n) | BigInt(w), 0n);
    return value >> 32n === 0xffffn ? { version: 4, value: value & 0xffffffffn } : { version: 6, value };
  }

  it('read every valid IPv4 and IPv6 text like parseAddress', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4().map((v4) => `::ffff:${v4}`)), (ip) => {
        assert.deepEqual(ours(ip), oracle(ip), ip);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuse exactly what parseAddress refuses, on address-like noise', () => {
    const alphabet = fc.constantFrom(...'0123456789abcdefABCDEF:::...ffff/%  g-');
    const noisy = fc.oneof(
      fc.array(alphabet, { maxLength: 45 }).map((cs) => cs.join('')),
      fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended()), fc.nat(45), fc.nat(3), alphabet).map(([ip, at, del, ins]) => ip.slice(0, at) + ins + ip.slice(at + del)),
    );
    fc.assert(
      fc.property(noisy, (text) => {
        if (text.trim() !== text) return; // trimming is isBlocked's job, tested there
        assert.deepEqual(ours(text), oracle(text), JSON.stringify(text));
      }),
      { numRuns: 5000 },
    );
  });

  it('read dataset keys like parseNetwork, v4-mapped networks as IPv4', () => {
    const net = fc.oneof(
      fc.tuple(fc.bigInt({ min: 0n, max: mask(4) }), fc.integer({ min: 0, max: 32 })).map(([v, p]) => networkOf({ version: 4, value: v, text: '' }, p).text),
      fc.tuple(fc.bigInt({ min: 0n, max: mask(6) }), fc.integer({ min: 0, max: 128 })).map(([v, p]) => networkOf({ version: 6, value: v, text: '' }, p).text),
      fc.tuple(fc.ipV4(), fc.integer({ min: 96, max: 128 })).map(([v4, p]) => {
        const n = networkOf(parseAddress(v4), p - 96);
        return `::ffff:${n.text.split('/')[0]}/${p}`;
      }),
    );
    fc.assert(
      fc.property(net, (text) => {
        const want = parseNetwork(text);
        assert.ok(parseCidr(text), text);
        const words = want.version === 4 ? [Number(want.base)] : [0, 1, 2, 3].map((i) => Number((want.base >> BigInt(96 - 32 * i)) & 0xffffffffn));
        assert.deepEqual([cidrFamily, cidrPrefix, [...CIDR_WORDS.subarray(0, words.length)]], [want.version, want.prefix, words]);
      }),
      { numRuns: 2000 },
    );
    for (const bad of ['198.51.100.0/33', '2001:db8::/129', '198.51.100.0/', '198.51.100.0/024', '::ffff:1.2.3.0/95', 'x/8']) assert.equal(parseCidr(bad), false, bad);
  });

  it('read the portal’s ISO expiries like Date.parse', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1970-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }), (d) => {
        const iso = d.toISOString();
        assert.equal(parseIsoMs(iso), Date.parse(iso));
      }),
    );
    for (const odd of ['2030-02-30T00:00:00.000Z', '2030-01-01', '2030-13-01T00:00:00.000Z', 'soon']) assert.deepEqual(parseIsoMs(odd), Date.parse(odd), odd);
  });
});
