import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAddress } from '../../src/domain/ip.js';
import {
  analyseReceived,
  buildHops,
  findHandoff,
  parseReceived,
  poolOf,
  validateNetwork,
  type Hop,
  type PoolName,
} from '../../src/domain/received.js';
import { network } from '../helpers/network.js';

const hopsOf = (...lines: string[]): Hop[] => buildHops(lines, network.hostSuffix);

describe('parseReceived: where the sending IP is written', () => {
  const shapes: [string, string, { fromHost: string | null; fromIp: string | null; byHost: string | null }][] = [
    [
      'Postfix: from host (rdns [ip])',
      'from o12.outbound.example.net (o12.outbound.example.net [203.0.113.12]) by mx.example.org (Postfix) with ESMTPS id 4TpQ2m0xYzz9sW for <carol@example.org>; Tue, 05 Mar 2024 10:00:02 +0000 (UTC)',
      { fromHost: 'o12.outbound.example.net', fromIp: '203.0.113.12', byHost: 'mx.example.org' },
    ],
    [
      'USA.net style: from host [ip] by (the literal a word, not a comment)',
      'from co03.mbox.net [165.212.64.33] by nm11.cms.usa.net via smtad (C8.MAIN.4.04K) with ESMTPS id XID920uaiD5b9887X11; Sat, 09 Jan 2016 03:56:27 -0000',
      { fromHost: 'co03.mbox.net', fromIp: '165.212.64.33', byHost: 'nm11.cms.usa.net' },
    ],
    [
      'MX Logic: from unknown [ip] (EHLO host), the EHLO name not taken',
      'from unknown [38.97.88.19] (EHLO SYNCORPEXCH01.synbuf.local) by p02c12o143.mxlogic.net(mxl_mta-7.2.4-1) over TLS secured channel with ESMTP id 9ccaef25',
      { fromHost: 'unknown', fromIp: '38.97.88.19', byHost: 'p02c12o143.mxlogic.net' },
    ],
    [
      'a pasted IPv6 split after its first colon: (2603: 10b6:a03:100::39)',
      'from CO1NAM05HT015.eop-nam05.prod.protection.outlook.com (2603: 10b6:a03:100::39) by BYAPR02MB4775.namprd02.prod.outlook.com with HTTPS',
      { fromHost: 'CO1NAM05HT015.eop-nam05.prod.protection.outlook.com', fromIp: '2603:10b6:a03:100::39', byHost: 'BYAPR02MB4775.namprd02.prod.outlook.com' },
    ],
    ['a bare address literal: from [ip]', 'from [198.51.100.7] by mx.example.org with SMTP id 1; Tue, 5 Mar 2024 10:00:00 +0000', { fromHost: '[198.51.100.7]', fromIp: '198.51.100.7', byHost: 'mx.example.org' }],
    ['qmail/MS style: from host (ip)', 'from mail.example.com (198.51.100.8) by mx.example.org; Tue, 5 Mar 2024', { fromHost: 'mail.example.com', fromIp: '198.51.100.8', byHost: 'mx.example.org' }],
    [
      'from host (HELO host) ([ip])',
      'from mail.example.com (HELO mail.example.com) ([198.51.100.9]) by mx.example.org with ESMTP; Tue, 5 Mar 2024',
      { fromHost: 'mail.example.com', fromIp: '198.51.100.9', byHost: 'mx.example.org' },
    ],
    [
      'Postfix IPv6: (rdns [IPv6:…])',
      'from o7.outbound.example.net (o7.outbound.example.net [IPv6:2001:db8:25::7]) by mx.example.org (Postfix) with ESMTPS id 1',
      { fromHost: 'o7.outbound.example.net', fromIp: '2001:db8:25::7', byHost: 'mx.example.org' },
    ],
    ['an [IPv6:…] literal in the from position', 'from [IPv6:2001:DB8:25:0:0:0:0:9] by mx.example.org with ESMTP', { fromHost: '[IPv6:2001:DB8:25:0:0:0:0:9]', fromIp: '2001:db8:25::9', byHost: 'mx.example.org' }],
    [
      'Exim/Courier: ([ip]:port)',
      'from o44.outbound.example.net ([203.0.113.44]:41822) by mx.example.org with esmtps (TLS1.3) (Exim 4.97) (envelope-from <a@example.com>) id 1rlAbc-0001Xy-2Z for b@example.org; Sat, 16 Mar 2024 18:00:02 +0000',
      { fromHost: 'o44.outbound.example.net', fromIp: '203.0.113.44', byHost: 'mx.example.org' },
    ],
    [
      'Exim: from [ip] (port=… helo=…)',
      'from [203.0.113.45] (port=51234 helo=o45.outbound.example.net) by mx.example.org with esmtpsa (TLS1.2) (Exim 4.96) id 1ri',
      { fromHost: '[203.0.113.45]', fromIp: '203.0.113.45', byHost: 'mx.example.org' },
    ],
    [
      'Microsoft: from X (2603:10a6:…) by Y (2603:10a6:…)',
      'from AM0PR01MB1234.eurprd01.prod.exchangelabs.com (2603:10a6:208:ac::12) by AM0PR01MB5678.eurprd01.prod.exchangelabs.com (2603:10a6:208:ac::34) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7409.29; Tue, 5 Mar 2024 10:00:00 +0000',
      { fromHost: 'AM0PR01MB1234.eurprd01.prod.exchangelabs.com', fromIp: '2603:10a6:208:ac::12', byHost: 'AM0PR01MB5678.eurprd01.prod.exchangelabs.com' },
    ],
    [
      'folded with CRLF and a tab',
      'from o33.outbound.example.net\r\n\t(o33.outbound.example.net\r\n\t[203.0.113.33])\r\n\tby mx3.example.org\r\n\t(Postfix) with ESMTPS id 4TsLf0;\r\n\tSat, 09 Mar 2024 14:00:04 +0000',
      { fromHost: 'o33.outbound.example.net', fromIp: '203.0.113.33', byHost: 'mx3.example.org' },
    ],
    [
      'folded with LF and spaces',
      'from\n o34.outbound.example.net\n (o34.outbound.example.net\n [203.0.113.34]) by\n mx3.example.org; Sat, 09 Mar 2024',
      { fromHost: 'o34.outbound.example.net', fromIp: '203.0.113.34', byHost: 'mx3.example.org' },
    ],
    [
      'sendmail: ident, nested comment "(may be forged)"',
      'from relay.example.com (IDENT:root@relay.example.com [198.51.100.1] (may be forged)) by mx.example.org (8.15.2/8.15.2) with ESMTP id 25AB; Tue, 5 Mar 2024',
      { fromHost: 'relay.example.com', fromIp: '198.51.100.1', byHost: 'mx.example.org' },
    ],
    ['qmail: (HELO …) (user@ip)', 'from unknown (HELO 192.0.2.99) (joe@198.51.100.77) by mx.example.org with SMTP; 5 Mar 2024', { fromHost: 'unknown', fromIp: '198.51.100.77', byHost: 'mx.example.org' }],
    ['Gmail: rDNS with a trailing dot', 'from mail-sor-f41.example.com (mail-sor-f41.example.com. [192.0.2.41]) by mx.example.org with SMTPS id x;', { fromHost: 'mail-sor-f41.example.com', fromIp: '192.0.2.41', byHost: 'mx.example.org' }],
    ['an IPv4-mapped IPv6 address becomes IPv4', 'from o5.outbound.example.net (o5.outbound.example.net [IPv6:::ffff:203.0.113.5]) by mx.example.org', { fromHost: 'o5.outbound.example.net', fromIp: '203.0.113.5', byHost: 'mx.example.org' }],
    ['upper-case keywords and host trailing dots', 'FROM mail.example.com. (mail.example.com [198.51.100.3]) BY mx.example.org. WITH ESMTP', { fromHost: 'mail.example.com', fromIp: '198.51.100.3', byHost: 'mx.example.org' }],
  ];
  for (const [title, value, expected] of shapes) {
    it(`reads ${title}`, () => {
      assert.deepEqual(parseReceived(value), expected);
    });
  }
});

describe('parseReceived: addresses that are not the sender', () => {
  it('ignores an address in the by-clause', () => {
    assert.equal(parseReceived('from mail.example.com by mx.example.org (203.0.113.5) with ESMTP').fromIp, null);
  });

  it('ignores an address in the for-clause', () => {
    assert.equal(parseReceived('from mail.example.com (mail.example.com) by mx.example.org for <x@[203.0.113.6]>; Tue, 5 Mar 2024').fromIp, null);
  });

  it('ignores an address-shaped id', () => {
    assert.equal(parseReceived('from mail.example.com by mx.example.org with ESMTP id 203.0.113.7; Tue, 5 Mar 2024').fromIp, null);
  });

  it('ignores an address after the date', () => {
    assert.equal(parseReceived('from mail.example.com by mx.example.org; Tue, 5 Mar 2024 (203.0.113.8)').fromIp, null);
  });

  it('takes the connecting address, not the one the client gave as HELO', () => {
    assert.equal(parseReceived('from [198.51.100.20] (port=40112 helo=[203.0.113.9]) by mx.example.org with esmtp').fromIp, '198.51.100.20');
    assert.equal(parseReceived('from unknown (HELO 203.0.113.10) (198.51.100.21) by mx.example.org').fromIp, '198.51.100.21');
  });

  it('finds no sender in a local submission or a qmail "invoked from network" line', () => {
    assert.deepEqual(parseReceived('(from root@localhost) by mx.example.org (8.15.2/8.15.2/Submit) id 25AB; Tue, 5 Mar 2024'), {
      fromHost: null,
      fromIp: null,
      byHost: 'mx.example.org',
    });
    assert.deepEqual(parseReceived('(qmail 12345 invoked from network); 5 Mar 2024 10:00:00 -0000'), { fromHost: null, fromIp: null, byHost: null });
  });

  it('gives nulls for an empty or meaningless value', () => {
    assert.deepEqual(parseReceived(''), { fromHost: null, fromIp: null, byHost: null });
    assert.deepEqual(parseReceived('((((('), { fromHost: null, fromIp: null, byHost: null });
  });

  it('does not take a clause keyword for a host name', () => {
    assert.deepEqual(parseReceived('from (HELO mail.example.com) ([198.51.100.9]) by mx.example.org with ESMTP'), {
      fromHost: null,
      fromIp: '198.51.100.9',
      byHost: 'mx.example.org',
    });
  });

  it('stays fast on long runs of dots, commas and brackets', () => {
    const started = performance.now();
    for (const filler of ['.', ',', '[', '(', '1:', 'a.']) {
      const parsed = parseReceived(`from x (${filler.repeat(16_000)}x [203.0.113.1]) by ${'.'.repeat(16_000)}y`);
      assert.equal(parsed.fromHost, 'x');
    }
    assert.ok(performance.now() - started < 1000, 'linear-time parsing');
  });

  it('does not read an invalid address such as 203.0.113.300', () => {
    assert.equal(parseReceived('from host (host [203.0.113.300]) by mx.example.org').fromIp, null);
  });

  it('reports the rDNS name the receiving server wrote next to the address', () => {
    assert.equal(analyseReceived('from helo.example.com (o3.outbound.example.net [203.0.113.3]) by mx.example.org').rdns, 'o3.outbound.example.net');
    assert.equal(analyseReceived('from helo.example.com (unknown [203.0.113.3]) by mx.example.org').rdns, null);
  });
});

describe('buildHops', () => {
  it('numbers hops from the top, unfolds raw values and marks hops written by our hosts', () => {
    const hops = hopsOf('from a.example.org (a.example.org [192.0.2.1])\r\n\tby b.example.org; date', 'from x (x [10.0.0.1]) by o9.OUTBOUND.example.net; date');
    assert.deepEqual(
      hops.map((h) => [h.index, h.raw, h.ourHop]),
      [
        [0, 'from a.example.org (a.example.org [192.0.2.1])\tby b.example.org; date', false],
        [1, 'from x (x [10.0.0.1]) by o9.OUTBOUND.example.net; date', true],
      ],
    );
  });
});

describe('findHandoff', () => {
  it('takes the first hop from the top whose sending IP is in one of our pools', () => {
    const hops = hopsOf(
      'from mx1.example.org (mx1.example.org [10.0.4.21]) by store.example.org with LMTP; date',
      'from o12.outbound.example.net (o12.outbound.example.net [203.0.113.12]) by mx1.example.org (Postfix); date',
      'from submit3.outbound.example.net (unknown [203.0.113.140]) by o12.outbound.example.net (Postfix); date',
    );
    assert.deepEqual(findHandoff(hops, network), { index: 1, ip: '203.0.113.12', pool: 'normal', host: 'o12.outbound.example.net' });
  });

  it('names the pool of the hand-off IP', () => {
    const pools: [string, PoolName][] = [
      ['203.0.113.63', 'normal'],
      ['203.0.113.64', 'high-risk'],
      ['203.0.113.127', 'high-risk'],
      ['203.0.113.128', 'relay'],
      ['203.0.113.191', 'relay'],
      ['2001:db8:25:ffff::1', 'normal'],
    ];
    for (const [ip, pool] of pools) {
      const literal = ip.includes(':') ? `IPv6:${ip}` : ip;
      assert.equal(findHandoff(hopsOf(`from h (h [${literal}]) by mx.example.org`), network)?.pool, pool, ip);
    }
  });

  it('returns null when no hop comes from our pools, including the addresses just outside them', () => {
    const hops = hopsOf(
      'from a (a [203.0.113.192]) by mx.example.org',
      'from b (b [203.0.114.1]) by mx.example.org',
      'from c (c [IPv6:2001:db8:26::1]) by mx.example.org',
      'by o1.outbound.example.net with ESMTP id 203.0.113.1',
    );
    assert.equal(findHandoff(hops, network), null);
    assert.equal(findHandoff([], network), null);
  });

  it('names our host from the rDNS name when the HELO name is not ours', () => {
    const hops = hopsOf('from localhost (o3.outbound.example.net [203.0.113.3]) by mx.example.org');
    assert.equal(findHandoff(hops, network)?.host, 'o3.outbound.example.net');
  });

  it('falls back to the by-host of the hop just below when the hand-off line does not name our host', () => {
    const hops = hopsOf(
      'from unknown (203.0.113.4) by mx.example.org with SMTP',
      'from submit.example.com (submit.example.com [10.1.1.1]) by o4.outbound.example.net with ESMTP',
    );
    assert.equal(findHandoff(hops, network)?.host, 'o4.outbound.example.net');
    const foreignBelow = hopsOf('from unknown (203.0.113.4) by mx.example.org', 'from x (x [10.1.1.1]) by relay.example.com');
    assert.equal(findHandoff(foreignBelow, network)?.host, null);
  });

  it('walks by index, whatever the order of the array', () => {
    const hops = hopsOf('from a (a [203.0.113.70]) by mx.example.org', 'from b (b [203.0.113.5]) by o70.outbound.example.net');
    assert.equal(findHandoff([...hops].reverse(), network)?.ip, '203.0.113.70');
  });

  it('canonicalises the hand-off IP', () => {
    const hop: Hop = { index: 0, raw: '', fromHost: null, fromIp: '::ffff:203.0.113.9', byHost: null, ourHop: false };
    assert.deepEqual(findHandoff([hop], network), { index: 0, ip: '203.0.113.9', pool: 'normal', host: null });
  });

  it('refuses a network policy with an invalid pool CIDR', () => {
    assert.throws(() => validateNetwork({ ...network, pools: { normal: ['203.0.113.1/26'] } }), /network\.pools\.normal/);
  });
});

// ---- properties of the walk -------------------------------------------------------------------------------

const POOL_RANGES: { pool: PoolName; ip: fc.Arbitrary<string> }[] = [
  { pool: 'normal', ip: fc.integer({ min: 0, max: 63 }).map((n) => `203.0.113.${n}`) },
  {
    pool: 'normal',
    ip: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 5, maxLength: 5 }).map((g) => parseAddress(`2001:db8:25:${g.map((x) => x.toString(16)).join(':')}`).text),
  },
  { pool: 'high-risk', ip: fc.integer({ min: 64, max: 127 }).map((n) => `203.0.113.${n}`) },
  { pool: 'relay', ip: fc.integer({ min: 128, max: 191 }).map((n) => `203.0.113.${n}`) },
];

const poolIp: fc.Arbitrary<{ pool: PoolName; ip: string }> = fc.oneof(...POOL_RANGES.map(({ pool, ip }) => ip.map((text) => ({ pool, ip: text }))));

/** Any address outside our pools: public, private, loopback, v4 or v6. */
const foreignIp: fc.Arbitrary<string> = fc
  .oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('10.0.0.1', '192.168.1.20', '127.0.0.1', '::1', 'fe80::1', '203.0.113.192', '2001:db8:26::1'))
  .filter((ip) => poolOf(ip, network) === null);

const hostName = fc.constantFrom('mx.example.org', 'o12.outbound.example.net', 'mail.example.com', 'unknown', 'localhost', 'r3.outbound.example.net', 'DB9PR01MB1234.prod.example.org');

/** One Received line in one of the usual shapes, with `ip` as the sending address. */
function receivedLine(shape: number, ip: string, from: string, by: string, port: number): string {
  const v6 = ip.includes(':');
  const literal = v6 ? `IPv6:${ip}` : ip;
  switch (shape % 9) {
    case 0:
      return `from ${from} (${from} [${literal}])\r\n\tby ${by} (Postfix) with ESMTPS id 4TpQ2m0x\r\n\tfor <x@example.org>; Tue, 05 Mar 2024 10:00:02 +0000 (UTC)`;
    case 1:
      return `from [${literal}] by ${by} with SMTP id 1; Tue, 5 Mar 2024 10:00:00 +0000`;
    case 2:
      return `from ${from} (${ip}) by ${by} (10.1.2.3) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE) id 15.20.1.2; Tue, 5 Mar 2024`;
    case 3:
      return `from ${from} (HELO ${from}) ([${ip}]) by ${by} with ESMTP; Tue, 5 Mar 2024`;
    case 4:
      return `from ${from} ([${ip}]:${port}) by ${by} with esmtps (TLS1.3) (Exim 4.97) (envelope-from <a@example.com>) id 1rl for b@example.org; Tue, 5 Mar 2024`;
    case 5:
      return `from [${ip}] (port=${port} helo=${from}) by ${by} with esmtpsa (Exim 4.96) id 1ri; Tue, 5 Mar 2024`;
    case 6:
      return `from ${from}\n (${from}\n [${literal}])\n by ${by}; Tue, 5 Mar 2024`;
    case 7:
      return `from unknown (HELO ${from}) (user@${ip}) by ${by} with SMTP; 5 Mar 2024`;
    default:
      return `from ${from} (IDENT:root@${from} [${ip}] (may be forged)) by ${by} (8.15.2/8.15.2) with ESMTP id 25AB; Tue, 5 Mar 2024`;
  }
}

const lineWith = (ip: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(fc.nat(), ip, hostName, hostName, fc.integer({ min: 1, max: 65535 })).map(([shape, addr, from, by, port]) => receivedLine(shape, addr, from, by, port));

/** Recipient-side lines: a foreign sender, or no from-clause at all (local delivery). */
const recipientLine = fc.oneof(
  lineWith(foreignIp),
  fc.constantFrom('by store.example.org (Dovecot) with LMTP id kP3x; Tue, 5 Mar 2024', '(qmail 1234 invoked from network); 5 Mar 2024', 'from localhost by mx.example.org with LMTP'),
);

/** Lines below the hand-off: anything, including our pool addresses, forged our-host names and garbage. */
const anyLine = fc.oneof(lineWith(poolIp.map((p) => p.ip)), lineWith(foreignIp), fc.string(), fc.string({ unit: 'binary' }), recipientLine);

describe('findHandoff properties', () => {
  it('returns exactly the hop sent from a pool IP below any recipient-side hops, whatever lies below it', () => {
    fc.assert(
      fc.property(fc.array(recipientLine, { maxLength: 6 }), poolIp, fc.nat(), hostName, hostName, fc.array(anyLine, { maxLength: 8 }), (top, target, shape, from, by, below) => {
        const line = receivedLine(shape, target.ip, from, by, 25);
        const handoff = findHandoff(hopsOf(...top, line, ...below), network);
        assert.ok(handoff, 'a hand-off is found');
        assert.equal(handoff.index, top.length);
        assert.equal(handoff.ip, target.ip);
        assert.equal(handoff.pool, target.pool);
      }),
    );
  });

  it('gives the same source, whatever lines are put below the hand-off', () => {
    fc.assert(
      fc.property(fc.array(recipientLine, { maxLength: 4 }), lineWith(poolIp.map((p) => p.ip)), fc.array(anyLine, { maxLength: 6 }), fc.array(anyLine, { maxLength: 6 }), (top, line, belowA, belowB) => {
        const a = findHandoff(hopsOf(...top, line, ...belowA), network);
        const b = findHandoff(hopsOf(...top, line), network);
        const c = findHandoff(hopsOf(...top, line, ...belowB), network);
        assert.ok(a && b && c);
        assert.deepEqual([a.index, a.ip, a.pool], [b.index, b.ip, b.pool]);
        assert.deepEqual([c.index, c.ip, c.pool], [b.index, b.ip, b.pool]);
      }),
    );
  });

  it('returns null when no line has a pool IP in its from-clause', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(recipientLine, lineWith(foreignIp)), { maxLength: 10 }), (lines) => {
        assert.equal(findHandoff(hopsOf(...lines), network), null);
      }),
    );
  });

  it('reads the sending IP back from every shape, canonicalised', () => {
    fc.assert(
      fc.property(fc.nat(), fc.oneof(fc.ipV4(), fc.ipV6()), hostName, hostName, fc.integer({ min: 1, max: 65535 }), (shape, ip, from, by, port) => {
        const parsed = parseReceived(receivedLine(shape, ip, from, by, port));
        assert.equal(parsed.fromIp, parseAddress(ip).text);
        assert.equal(parsed.byHost, by);
      }),
    );
  });

  it('parseReceived never throws and returns strings or nulls for any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string({ unit: fc.constantFrom('(', ')', '[', ']', '\\', '"', ' ', ';', 'from', 'by', 'helo=', ':', '.', '1', 'f', '\r\n\t') })), (text) => {
        const parsed = parseReceived(text);
        assert.deepEqual(Object.keys(parsed).sort(), ['byHost', 'fromHost', 'fromIp']);
        for (const v of Object.values(parsed)) assert.ok(v === null || typeof v === 'string');
        if (parsed.fromIp !== null) assert.equal(parseAddress(parsed.fromIp).text, parsed.fromIp);
      }),
      { numRuns: 500 },
    );
  });
});
