import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  IpInputError,
  candidateKeys,
  contains,
  describeSpecialPurpose,
  isWider,
  networkOf,
  parseAddress,
  parseNetwork,
  specialPurpose,
  type Address,
} from '../../src/domain/ip.js';

/** Asserts that fn throws an IpInputError with the given reason and returns it. */
function refused(fn: () => unknown, reason: IpInputError['reason']): IpInputError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof IpInputError, `expected IpInputError, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    assert.ok(err.message.length > 0);
    return err;
  }
  assert.fail(`expected IpInputError(${reason}) but nothing was thrown`);
}

/** Independent oracle for canonical IPv6 text: WHATWG URL serialisation (RFC 5952 compression, lower case). */
function urlCanonical(v6: string): string {
  const host = new URL(`http://[${v6}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (!mapped) return host;
  const hi = parseInt(mapped[1] ?? '', 16);
  const lo = parseInt(mapped[2] ?? '', 16);
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

const anyAddress: fc.Arbitrary<Address> = fc.oneof(fc.ipV4(), fc.ipV6()).map(parseAddress);
const addressAndPrefix = fc
  .tuple(anyAddress, fc.integer({ min: 0, max: 128 }))
  .map(([addr, p]): [Address, number] => [addr, p % ((addr.version === 4 ? 32 : 128) + 1)]);

describe('parseAddress', () => {
  it('reads 198.51.100.7 as a canonical IPv4 address with its 32-bit value', () => {
    assert.deepEqual(parseAddress('198.51.100.7'), { version: 4, value: 0xc6336407n, text: '198.51.100.7' });
  });

  it('trims surrounding whitespace', () => {
    assert.equal(parseAddress('  203.0.113.9 \n').text, '203.0.113.9');
  });

  it('writes IPv6 in RFC 5952 form, lower case and compressed', () => {
    const addr = parseAddress('2001:0DB8:0000:0000:0000:0000:0000:0001');
    assert.equal(addr.version, 6);
    assert.equal(addr.text, '2001:db8::1');
    assert.equal(addr.value, (0x20010db8n << 96n) | 1n);
  });

  it('compresses the first of two equally long zero runs', () => {
    assert.equal(parseAddress('2001:db8:0:0:1:0:0:1').text, '2001:db8::1:0:0:1');
  });

  it('does not compress a single zero group', () => {
    assert.equal(parseAddress('2001:db8:0:1:1:1:1:1').text, '2001:db8:0:1:1:1:1:1');
  });

  it('reads ::ffff:198.51.100.7 as the IPv4 address', () => {
    assert.deepEqual(parseAddress('::ffff:198.51.100.7'), parseAddress('198.51.100.7'));
  });

  it('reads the hex spelling ::ffff:c0a8:0101 as 192.168.1.1', () => {
    assert.deepEqual(parseAddress('::ffff:c0a8:0101'), parseAddress('192.168.1.1'));
  });

  it('reads the fully written 0:0:0:0:0:FFFF:c633:6407 as 198.51.100.7', () => {
    assert.equal(parseAddress('0:0:0:0:0:FFFF:c633:6407').text, '198.51.100.7');
  });

  it('reads the deprecated IPv4-compatible ::198.51.100.7 as an IPv6 address, not as IPv4', () => {
    const addr = parseAddress('::198.51.100.7');
    assert.equal(addr.version, 6);
    assert.equal(addr.text, '::c633:6407');
  });

  it('accepts a dotted IPv4 tail inside a full IPv6 address', () => {
    assert.equal(parseAddress('2001:db8:1:2:3:4:198.51.100.7').text, '2001:db8:1:2:3:4:c633:6407');
  });

  for (const input of ['010.1.1.1', '1.2.3.04', '::ffff:010.1.1.1']) {
    it(`refuses ${input} because of a leading zero (could be read as octal)`, () => {
      const err = refused(() => parseAddress(input), 'invalid');
      assert.match(err.message, /leading zero/);
    });
  }

  for (const input of ['0x7f.0.0.1', '127.1', '2130706433', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.-1']) {
    it(`refuses the non-standard IPv4 form ${input}`, () => {
      refused(() => parseAddress(input), 'invalid');
    });
  }

  for (const input of ['', '   ', 'example.com', '1:2:3:4:5:6:7:8:9', '1::2::3', '00001::', 'g::1', '2001:db8::1/64', ':1:2:3:4:5:6:7']) {
    it(`refuses ${JSON.stringify(input)} as not an address`, () => {
      refused(() => parseAddress(input), 'invalid');
    });
  }

  it('refuses brackets around IPv6 and says to leave them out', () => {
    const err = refused(() => parseAddress('[2001:db8::1]'), 'invalid');
    assert.match(err.message, /brackets/);
  });

  it('refuses an IPv6 zone id such as fe80::1%eth0 with reason zone', () => {
    refused(() => parseAddress('fe80::1%eth0'), 'zone');
    refused(() => parseAddress('2001:db8::1%2'), 'zone');
  });

  it('refuses very long input without trying to parse it', () => {
    refused(() => parseAddress('1:'.repeat(5000) + 'x'), 'invalid');
  });
});

describe('parseNetwork', () => {
  it('reads a bare IPv4 address as a /32 whose text is the bare address', () => {
    assert.deepEqual(parseNetwork('198.51.100.7'), { version: 4, base: 0xc6336407n, prefix: 32, text: '198.51.100.7' });
  });

  it('reads a bare IPv6 address as a /128 whose text is the bare address', () => {
    const net = parseNetwork('2001:db8::7');
    assert.equal(net.prefix, 128);
    assert.equal(net.text, '2001:db8::7');
  });

  it('writes /32 and /128 networks as the bare address', () => {
    assert.equal(parseNetwork('198.51.100.7/32').text, '198.51.100.7');
    assert.equal(parseNetwork('2001:DB8::7/128').text, '2001:db8::7');
  });

  it('reads 198.51.100.0/24 and 2001:db8::/32', () => {
    assert.deepEqual(parseNetwork(' 198.51.100.0/24 '), { version: 4, base: 0xc6336400n, prefix: 24, text: '198.51.100.0/24' });
    assert.equal(parseNetwork('2001:0db8::/32').text, '2001:db8::/32');
  });

  it('accepts /0 for both versions', () => {
    assert.equal(parseNetwork('0.0.0.0/0').text, '0.0.0.0/0');
    assert.equal(parseNetwork('::/0').text, '::/0');
  });

  it('refuses 198.51.100.1/24 because host bits are set and suggests 198.51.100.0/24', () => {
    const err = refused(() => parseNetwork('198.51.100.1/24'), 'host-bits');
    assert.equal(err.suggestion, '198.51.100.0/24');
    assert.match(err.message, /198\.51\.100\.0\/24/);
  });

  it('refuses 2001:db8::1/32 because host bits are set and suggests 2001:db8::/32', () => {
    const err = refused(() => parseNetwork('2001:db8::1/32'), 'host-bits');
    assert.equal(err.suggestion, '2001:db8::/32');
  });

  for (const input of ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/24/8', '10.0.0.0/ 24', '10.0.0.0/08', '10.0.0.0/0x18', '10.0.0.0/2.5']) {
    it(`refuses the prefix length in ${input}`, () => {
      refused(() => parseNetwork(input), 'prefix');
    });
  }

  it('reads the v4-mapped network ::ffff:198.51.100.0/120 as 198.51.100.0/24', () => {
    assert.deepEqual(parseNetwork('::ffff:198.51.100.0/120'), parseNetwork('198.51.100.0/24'));
    assert.equal(parseNetwork('::ffff:0:0/96').text, '0.0.0.0/0');
    assert.equal(parseNetwork('::ffff:198.51.100.7/128').text, '198.51.100.7');
  });

  it('refuses a v4-mapped network shorter than /96', () => {
    refused(() => parseNetwork('::ffff:0.0.0.0/95'), 'prefix');
  });

  it('suggests the IPv4 network for a v4-mapped network with host bits set', () => {
    const err = refused(() => parseNetwork('::ffff:198.51.100.7/120'), 'host-bits');
    assert.equal(err.suggestion, '198.51.100.0/24');
  });

  it('passes on address errors such as zone ids and leading zeros', () => {
    refused(() => parseNetwork('fe80::%eth0/64'), 'zone');
    refused(() => parseNetwork('010.0.0.0/8'), 'invalid');
    refused(() => parseNetwork('/24'), 'invalid');
  });
});

describe('networkOf, contains, isWider', () => {
  const addr = parseAddress('198.51.100.7');

  it('masks 198.51.100.7 to 198.51.100.0/24', () => {
    assert.equal(networkOf(addr, 24).text, '198.51.100.0/24');
    assert.equal(networkOf(addr, 0).text, '0.0.0.0/0');
    assert.equal(networkOf(addr, 32).text, '198.51.100.7');
  });

  it('refuses a prefix outside the address length', () => {
    refused(() => networkOf(addr, 33), 'prefix');
    refused(() => networkOf(addr, -1), 'prefix');
    refused(() => networkOf(addr, 1.5), 'prefix');
  });

  it('says 198.51.100.0/24 contains 198.51.100.7 but not 198.51.101.7', () => {
    const net = parseNetwork('198.51.100.0/24');
    assert.equal(contains(net, addr), true);
    assert.equal(contains(net, parseAddress('198.51.101.7')), false);
  });

  it('never mixes versions, even for ::/0', () => {
    assert.equal(contains(parseNetwork('::/0'), addr), false);
    assert.equal(contains(parseNetwork('0.0.0.0/0'), parseAddress('2001:db8::1')), false);
  });

  it('calls /16 wider than /24 inside it, but not the reverse, an equal network or a disjoint one', () => {
    const wide = parseNetwork('198.51.0.0/16');
    const narrow = parseNetwork('198.51.100.0/24');
    assert.equal(isWider(wide, narrow), true);
    assert.equal(isWider(narrow, wide), false);
    assert.equal(isWider(narrow, narrow), false);
    assert.equal(isWider(parseNetwork('203.0.0.0/16'), narrow), false);
    assert.equal(isWider(parseNetwork('::/0'), narrow), false);
  });
});

describe('candidateKeys', () => {
  it('lists 33 keys for 198.51.100.7 from the address itself down to 0.0.0.0/0', () => {
    const keys = candidateKeys(parseAddress('198.51.100.7'));
    assert.equal(keys.length, 33);
    assert.deepEqual(keys.slice(0, 4), ['198.51.100.7', '198.51.100.6/31', '198.51.100.4/30', '198.51.100.0/29']);
    assert.equal(keys[8], '198.51.100.0/24');
    assert.equal(keys[32], '0.0.0.0/0');
  });

  it('lists 129 keys for 2001:db8::7 from the address itself down to ::/0', () => {
    const keys = candidateKeys(parseAddress('2001:db8::7'));
    assert.equal(keys.length, 129);
    assert.equal(keys[0], '2001:db8::7');
    assert.equal(keys[96], '2001:db8::/32');
    assert.equal(keys[128], '::/0');
  });
});

describe('specialPurpose', () => {
  const cases: Array<[string, string]> = [
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['::ffff:192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['fd00::1', 'unique-local'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['0.1.2.3', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['2002:c633:6407::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['64:ff9b::c633:6407', 'reserved'],
    ['::c633:6407', 'reserved'],
    ['fec0::1', 'reserved'],
    ['4000::1', 'reserved'],
  ];
  for (const [input, name] of cases) {
    it(`names ${input} '${name}'`, () => {
      assert.equal(specialPurpose(parseAddress(input)), name);
    });
  }

  for (const input of ['192.0.2.1', '198.51.100.7', '203.0.113.255', '2001:db8::1', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff']) {
    it(`allows the documentation address ${input}`, () => {
      assert.equal(specialPurpose(parseAddress(input)), null);
    });
  }

  for (const input of ['8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.0', '2a00:1450:4001::1', '2600::1']) {
    it(`allows the global unicast address ${input}`, () => {
      assert.equal(specialPurpose(parseAddress(input)), null);
    });
  }
});

describe('strict IPv4 (ipaddr.js four-part decimal)', () => {
  // Dotted strings near the edge: numbers up to 300 with or without leading zeros, 3 to 5 parts, odd characters.
  const part = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.integer({ min: 0, max: 99 }).map((n) => `0${n}`), fc.constantFrom('', 'x', '0x1f', ' 1', '1 ', '-1', '+1', '1e2'));
  const dotted = fc.oneof(
    fc.ipV4(),
    fc.ipV4Extended(),
    fc.array(part, { minLength: 1, maxLength: 5 }).map((parts) => parts.join('.')),
    fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', '.', 'x'), maxLength: 18 }),
  );

  it('either reads a dotted string as exactly the address it spells, or refuses it as invalid', () => {
    fc.assert(
      fc.property(dotted, (text) => {
        let addr: Address;
        try {
          addr = parseAddress(text);
        } catch (err) {
          return err instanceof IpInputError && err.reason === 'invalid';
        }
        // Nothing is read loosely: no octal, hex, short form or leading zero turns into some other spelling.
        return addr.version === 4 && addr.text === text.trim();
      }),
      { numRuns: 5_000 },
    );
  });
});

describe('describeSpecialPurpose', () => {
  const names = ['private', 'loopback', 'link-local', 'multicast', 'unspecified', 'shared', 'unique-local', 'broadcast', 'reserved'];

  it('explains private addresses with RFC 1918', () => {
    assert.equal(
      describeSpecialPurpose('private'),
      'This is a private address (RFC 1918); mail from it never reaches us directly, so it cannot be on our list.',
    );
  });

  it('gives each name its own single sentence', () => {
    const sentences = names.map(describeSpecialPurpose);
    assert.equal(new Set(sentences).size, names.length);
    for (const s of sentences) assert.match(s, /^[A-Z][^\n]*\.$/);
  });

  it('still gives a sentence for an unknown name', () => {
    assert.match(describeSpecialPurpose('something-new'), /^[A-Z].*\.$/);
  });
});

describe('properties', () => {
  it('round-trips any IPv4 dotted quad to the same text', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const addr = parseAddress(text);
        assert.equal(addr.version, 4);
        assert.equal(addr.text, text);
        const value = text.split('.').reduce((acc, o) => (acc << 8n) | BigInt(o), 0n);
        assert.equal(addr.value, value);
      }),
    );
  });

  it('canonicalises any IPv6 spelling the same way as the WHATWG URL parser', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        assert.equal(parseAddress(text).text, urlCanonical(text));
        assert.equal(parseAddress(text.toUpperCase()).text, urlCanonical(text));
      }),
    );
  });

  it('treats canonical text as a fixed point', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const once = parseAddress(text);
        assert.deepEqual(parseAddress(once.text), once);
      }),
    );
  });

  it('reads the v4-mapped form of any IPv4 address as that IPv4 address', () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        const v4 = parseAddress(text);
        const hi = (v4.value >> 16n).toString(16);
        const lo = (v4.value & 0xffffn).toString(16);
        for (const mapped of [`::ffff:${text}`, `::FFFF:${hi}:${lo}`, `0:0:0:0:0:ffff:${text}`, `0000::ffff:${hi.padStart(4, '0')}:${lo}`]) {
          assert.deepEqual(parseAddress(mapped), v4, mapped);
        }
      }),
    );
  });

  it('networkOf(a, p) contains a and its text parses back to the same network', () => {
    fc.assert(
      fc.property(addressAndPrefix, ([addr, p]) => {
        const net = networkOf(addr, p);
        assert.equal(net.prefix, p);
        assert.equal(contains(net, addr), true);
        assert.deepEqual(parseNetwork(net.text), net);
      }),
    );
  });

  it('"address/p" parses to networkOf(address, p) or is refused with that network as the suggestion', () => {
    fc.assert(
      fc.property(addressAndPrefix, ([addr, p]) => {
        const expected = networkOf(addr, p);
        try {
          assert.deepEqual(parseNetwork(`${addr.text}/${p}`), expected);
        } catch (err) {
          assert.ok(err instanceof IpInputError && err.reason === 'host-bits');
          assert.equal(err.suggestion, expected.text);
        }
      }),
    );
  });

  it('a shorter prefix over the same address is always wider', () => {
    fc.assert(
      fc.property(addressAndPrefix, fc.nat(), ([addr, p], extra) => {
        const max = addr.version === 4 ? 32 : 128;
        const q = p + (extra % (max - p + 1));
        assert.equal(isWider(networkOf(addr, p), networkOf(addr, q)), p < q);
      }),
    );
  });

  it('candidateKeys has 33/129 keys starting with the address, each a network containing it', () => {
    fc.assert(
      fc.property(anyAddress, (addr) => {
        const keys = candidateKeys(addr);
        const bits = addr.version === 4 ? 32 : 128;
        assert.equal(keys.length, bits + 1);
        assert.equal(keys[0], addr.text);
        keys.forEach((key, i) => {
          const net = parseNetwork(key);
          assert.equal(net.text, key);
          assert.equal(net.prefix, bits - i);
          assert.equal(contains(net, addr), true);
        });
      }),
      { numRuns: 50 },
    );
  });
});
