import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  NORMAL_REASON,
  POOLS,
  assignmentKey,
  classify,
  domainAndParents,
  factsFromHeaders,
  type HeaderLine,
  type MessageFacts,
  type PoolAssignment,
  type PoolName,
} from '../../src/domain/pools.js';

const NOW = new Date('2025-06-01T12:00:00.000Z');
const BEFORE_NOW = '2025-06-01T11:59:59.000Z';
const AFTER_NOW = '2025-06-04T12:00:00.000Z';

/** A plain, legitimate message from tenant contoso: nothing moves it out of the normal pool. */
function facts(over: Partial<MessageFacts> = {}): MessageFacts {
  return {
    tenant: 'contoso',
    senderDomain: 'contoso.com',
    isNdr: false,
    spamVerdict: false,
    overSendingLimits: false,
    domainHasA: true,
    domainHasMx: true,
    forwarded: false,
    senderInAcceptedDomain: false,
    spfPass: false,
    dkimPassForSender: false,
    ...over,
  };
}

function assignment(kind: 'tenant' | 'domain', key: string, pool: PoolName, over: Partial<PoolAssignment> = {}): PoolAssignment {
  return { kind, key, pool, reason: 'caught sending spam', source: 'test', assignedAt: '2025-05-31T12:00:00.000Z', expiresAt: AFTER_NOW, ...over };
}

/** Parses a pasted header block the way the mail parser hands headers over: keys lowercased, values still folded. */
function headersOf(raw: string): HeaderLine[] {
  const out: HeaderLine[] = [];
  for (const line of raw.replace(/^\n+/, '').split(/\r?\n/)) {
    const last = out[out.length - 1];
    if (/^[ \t]/.test(line) && last) last.value += `\r\n${line}`;
    else if (line.includes(':')) out.push({ key: line.slice(0, line.indexOf(':')).toLowerCase(), value: line.slice(line.indexOf(':') + 1).trim() });
  }
  return out;
}

const OPTS = { tenantHeader: 'x-postmaster-tenant', acceptedDomains: ['contoso.com'] };

describe('assignmentKey', () => {
  it('keys a tenant as tenant:<id>, keeping its case', () => {
    assert.equal(assignmentKey('tenant', 'Contoso-01'), 'tenant:Contoso-01');
  });

  it('keys a domain as domain:<lowercased domain>', () => {
    assert.equal(assignmentKey('domain', 'Mail.Example.COM'), 'domain:mail.example.com');
  });
});

describe('domainAndParents', () => {
  it('lists the domain and then every parent, most specific first', () => {
    assert.deepEqual(domainAndParents('Mail.Example.com.'), ['mail.example.com', 'example.com', 'com']);
  });
});

describe('POOLS', () => {
  it('names the three outbound pools', () => {
    assert.deepEqual([...POOLS].sort(), ['high-risk', 'normal', 'relay']);
  });
});

describe('classify: each rule alone', () => {
  it('keeps an ordinary message in the normal pool and says so', () => {
    assert.deepEqual(classify(facts(), [], NOW), { pool: 'normal', reasons: [NORMAL_REASON], steps: [{ key: 'normal' }] });
  });

  it('sends every NDR through the high-risk pool', () => {
    const c = classify(facts({ isNdr: true }), [], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.equal(c.reasons.length, 1);
    assert.match(c.reasons[0] ?? '', /non-delivery report/);
  });

  it('sends a message judged spam through the high-risk pool', () => {
    const c = classify(facts({ spamVerdict: true }), [], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.match(c.reasons[0] ?? '', /spam/);
  });

  it('sends a message over the sending limits through the high-risk pool', () => {
    const c = classify(facts({ overSendingLimits: true }), [], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.match(c.reasons[0] ?? '', /sending limits/);
  });

  it('sends mail from a domain with neither an A nor an MX record through the high-risk pool, naming the domain', () => {
    const c = classify(facts({ senderDomain: 'nowhere.example', domainHasA: false, domainHasMx: false }), [], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.match(c.reasons[0] ?? '', /nowhere\.example has no A record and no MX record/);
  });

  it('does not apply the DNS rule when only one record is missing or the records were never looked up', () => {
    for (const [a, mx] of [[false, true], [true, false], [null, false], [false, null], [null, null]] as const) {
      assert.equal(classify(facts({ domainHasA: a, domainHasMx: mx }), [], NOW).pool, 'normal', `A=${a} MX=${mx}`);
    }
  });

  it('sends the mail of a tenant assigned to the high-risk pool through it, quoting the assignment', () => {
    const c = classify(facts(), [assignment('tenant', 'contoso', 'high-risk', { reason: 'abuse reports' })], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.equal(c.reasons.length, 1);
    assert.match(c.reasons[0] ?? '', /Tenant contoso is assigned to the high-risk pool until 2025-06-04T12:00:00\.000Z \(reason: abuse reports\)/);
  });

  it('sends the mail of a sending domain assigned to the high-risk pool through it', () => {
    const c = classify(facts(), [assignment('domain', 'contoso.com', 'high-risk', { expiresAt: null })], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.match(c.reasons[0] ?? '', /contoso\.com is assigned to the high-risk pool until removed/);
  });

  it('sends a forwarded message whose sender cannot be verified through the relay pool', () => {
    const c = classify(facts({ forwarded: true }), [], NOW);
    assert.equal(c.pool, 'relay');
    assert.equal(c.reasons.length, 1);
    assert.match(c.reasons[0] ?? '', /forwarded or relayed by us .*could not be verified.*relay pool/);
  });

  for (const [name, over, why] of [
    ['SPF passed on arrival', { spfPass: true }, /SPF passed when it came to us/],
    ['DKIM for the sender domain passed on arrival', { dkimPassForSender: true }, /DKIM for the sender domain passed/],
    ['the sender is in an accepted domain', { senderInAcceptedDomain: true }, /accepted domain of the tenant/],
  ] as const) {
    it(`keeps a forwarded message out of the relay pool when ${name}, and says SRS is used`, () => {
      const c = classify(facts({ forwarded: true, ...over }), [], NOW);
      assert.equal(c.pool, 'normal');
      assert.equal(c.reasons.length, 1);
      assert.match(c.reasons[0] ?? '', /avoids the relay pool/);
      assert.match(c.reasons[0] ?? '', why);
      assert.match(c.reasons[0] ?? '', /Sender Rewriting Scheme \(SRS\)/);
    });
  }

  it('ignores the escape conditions when the message was not forwarded', () => {
    assert.deepEqual(classify(facts({ spfPass: true, dkimPassForSender: true, senderInAcceptedDomain: true }), [], NOW).reasons, [NORMAL_REASON]);
  });
});

describe('classify: combinations', () => {
  it('gives an NDR that is also forwarded to the high-risk pool, with both reasons, the NDR first', () => {
    const c = classify(facts({ isNdr: true, forwarded: true }), [], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.equal(c.reasons.length, 2);
    assert.match(c.reasons[0] ?? '', /non-delivery report/);
    assert.match(c.reasons[1] ?? '', /forwarding rule alone would send it through the relay pool, but the high-risk rules take precedence/);
  });

  it('lists both reasons for an NDR that is also spam', () => {
    const c = classify(facts({ isNdr: true, spamVerdict: true }), [], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.equal(c.reasons.length, 2);
    assert.match(c.reasons[0] ?? '', /non-delivery report/);
    assert.match(c.reasons[1] ?? '', /spam/);
  });

  it('lists every high-risk rule in the fixed order: NDR, assignment, spam, limits, DNS', () => {
    const c = classify(
      facts({ isNdr: true, spamVerdict: true, overSendingLimits: true, domainHasA: false, domainHasMx: false }),
      [assignment('tenant', 'contoso', 'high-risk')],
      NOW,
    );
    assert.equal(c.reasons.length, 5);
    [/non-delivery/, /Tenant contoso/, /spam/, /sending limits/, /no A record/].forEach((re, i) => assert.match(c.reasons[i] ?? '', re));
  });

  it('keeps a forwarded message with SPF pass in the normal pool with the SRS note', () => {
    const c = classify(facts({ forwarded: true, spfPass: true }), [], NOW);
    assert.equal(c.pool, 'normal');
    assert.match(c.reasons[0] ?? '', /SPF passed.*normal pool.*SRS/);
  });

  it('names every escape condition that held', () => {
    const c = classify(facts({ forwarded: true, spfPass: true, dkimPassForSender: true, senderInAcceptedDomain: true }), [], NOW);
    assert.match(c.reasons[0] ?? '', /accepted domain of the tenant, SPF passed when it came to us and DKIM for the sender domain passed/);
  });

  it('sends a forwarded message of a tenant assigned to the high-risk pool through the high-risk pool', () => {
    const c = classify(facts({ forwarded: true }), [assignment('tenant', 'contoso', 'high-risk')], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.equal(c.reasons.length, 2);
    assert.match(c.reasons[0] ?? '', /Tenant contoso is assigned to the high-risk pool/);
    assert.match(c.reasons[1] ?? '', /relay pool/);
  });

  it('still routes a verified forwarded message of a high-risk tenant through high-risk, noting SRS', () => {
    const c = classify(facts({ forwarded: true, dkimPassForSender: true }), [assignment('tenant', 'contoso', 'high-risk')], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.match(c.reasons[1] ?? '', /forwarding rule does not send it to the relay pool.*SRS/);
  });

  it('lets an explicit normal assignment decide over the forwarding rule', () => {
    const c = classify(facts({ forwarded: true }), [assignment('tenant', 'contoso', 'normal', { reason: 'trusted forwarder' })], NOW);
    assert.equal(c.pool, 'normal');
    assert.match(c.reasons[0] ?? '', /assigned to the normal pool/);
    assert.match(c.reasons[1] ?? '', /explicit pool assignment takes precedence/);
  });

  it('lets an explicit relay assignment decide over a forwarded message that passed SPF', () => {
    const c = classify(facts({ forwarded: true, spfPass: true }), [assignment('domain', 'contoso.com', 'relay')], NOW);
    assert.equal(c.pool, 'relay');
    assert.match(c.reasons[0] ?? '', /assigned to the relay pool/);
    assert.match(c.reasons[1] ?? '', /SPF passed/);
  });

  it('routes a non-forwarded message of a tenant assigned to relay through the relay pool', () => {
    assert.equal(classify(facts(), [assignment('tenant', 'contoso', 'relay')], NOW).pool, 'relay');
  });

  it('never lets a normal or relay assignment beat a high-risk rule', () => {
    for (const pool of ['normal', 'relay'] as const) {
      const c = classify(facts({ spamVerdict: true }), [assignment('tenant', 'contoso', pool)], NOW);
      assert.equal(c.pool, 'high-risk');
      assert.match(c.reasons[0] ?? '', /spam/);
      assert.match(c.reasons[1] ?? '', new RegExp(`assigned to the ${pool} pool.*but the high-risk rules take precedence`));
    }
  });

  it('picks relay when the tenant is assigned to normal and its domain to relay', () => {
    const c = classify(facts(), [assignment('tenant', 'contoso', 'normal'), assignment('domain', 'contoso.com', 'relay')], NOW);
    assert.equal(c.pool, 'relay');
    assert.match(c.reasons[0] ?? '', /relay pool/);
    assert.match(c.reasons[1] ?? '', /normal pool.*stricter relay assignment/);
  });

  it('lists both a tenant and a domain high-risk assignment, the tenant first', () => {
    const c = classify(facts(), [assignment('domain', 'contoso.com', 'high-risk'), assignment('tenant', 'contoso', 'high-risk')], NOW);
    assert.equal(c.reasons.length, 2);
    assert.match(c.reasons[0] ?? '', /^Tenant contoso/);
    assert.match(c.reasons[1] ?? '', /sending domain contoso\.com/);
  });
});

describe('classify: assignments over time and across domains', () => {
  it('ignores an assignment that expired before now', () => {
    assert.equal(classify(facts(), [assignment('tenant', 'contoso', 'high-risk', { expiresAt: BEFORE_NOW })], NOW).pool, 'normal');
  });

  it('treats an assignment expiring exactly now as expired', () => {
    assert.equal(classify(facts(), [assignment('tenant', 'contoso', 'high-risk', { expiresAt: NOW.toISOString() })], NOW).pool, 'normal');
  });

  it('applies an assignment one millisecond before it expires', () => {
    const expiresAt = new Date(NOW.getTime() + 1).toISOString();
    assert.equal(classify(facts(), [assignment('tenant', 'contoso', 'high-risk', { expiresAt })], NOW).pool, 'high-risk');
  });

  it('gives the same message a different pool before and after the expiry', () => {
    const a = [assignment('domain', 'contoso.com', 'high-risk', { expiresAt: AFTER_NOW })];
    assert.equal(classify(facts(), a, NOW).pool, 'high-risk');
    assert.equal(classify(facts(), a, new Date(Date.parse(AFTER_NOW) + 1)).pool, 'normal');
  });

  it('keeps an assignment without expiry forever', () => {
    const a = [assignment('tenant', 'contoso', 'high-risk', { expiresAt: null })];
    assert.equal(classify(facts(), a, new Date('2099-01-01T00:00:00Z')).pool, 'high-risk');
  });

  it('matches a domain assignment on a subdomain of the sender and says through which parent', () => {
    const c = classify(facts({ senderDomain: 'mail.example.com' }), [assignment('domain', 'example.com', 'high-risk')], NOW);
    assert.equal(c.pool, 'high-risk');
    assert.match(c.reasons[0] ?? '', /mail\.example\.com is assigned to the high-risk pool through its parent domain example\.com/);
  });

  it('matches a domain assignment whatever the case of the key or the sender domain', () => {
    assert.equal(classify(facts({ senderDomain: 'Mail.EXAMPLE.com' }), [assignment('domain', 'Example.Com', 'high-risk')], NOW).pool, 'high-risk');
  });

  it('does not match a child assignment for a parent sender', () => {
    assert.equal(classify(facts({ senderDomain: 'example.com' }), [assignment('domain', 'mail.example.com', 'high-risk')], NOW).pool, 'normal');
  });

  it('does not match a domain that only ends with the same letters', () => {
    assert.equal(classify(facts({ senderDomain: 'badexample.com' }), [assignment('domain', 'example.com', 'high-risk')], NOW).pool, 'normal');
  });

  it('does not match another tenant, a tenant key used as a domain, or a message without tenant', () => {
    const a = [assignment('tenant', 'fabrikam', 'high-risk'), assignment('domain', 'contoso', 'high-risk')];
    assert.equal(classify(facts(), a, NOW).pool, 'normal');
    assert.equal(classify(facts({ tenant: null, senderDomain: null }), [assignment('tenant', 'contoso', 'high-risk')], NOW).pool, 'normal');
  });
});

// ----- properties --------------------------------------------------------------------------------------------------

const TENANTS = ['contoso', 'fabrikam'] as const;
const DOMAINS = ['example.com', 'mail.example.com', 'a.mail.example.com', 'badexample.com', 'example.org', 'com'] as const;

const factsArb: fc.Arbitrary<MessageFacts> = fc.record({
  tenant: fc.constantFrom<string | null>(null, ...TENANTS),
  senderDomain: fc.constantFrom<string | null>(null, ...DOMAINS),
  isNdr: fc.boolean(),
  spamVerdict: fc.boolean(),
  overSendingLimits: fc.boolean(),
  domainHasA: fc.constantFrom(null, true, false),
  domainHasMx: fc.constantFrom(null, true, false),
  forwarded: fc.boolean(),
  senderInAcceptedDomain: fc.boolean(),
  spfPass: fc.boolean(),
  dkimPassForSender: fc.boolean(),
});

const expiresArb = fc.option(
  fc.constantFrom(-86_400_000, -1, 0, 1, 3_600_000).map((off) => new Date(NOW.getTime() + off).toISOString()),
  { nil: null },
);

function assignmentsArb(pools: readonly PoolName[] = POOLS): fc.Arbitrary<PoolAssignment[]> {
  const one = fc
    .record({
      kind: fc.constantFrom<'tenant' | 'domain'>('tenant', 'domain'),
      tenantKey: fc.constantFrom(...TENANTS),
      domainKey: fc.constantFrom(...DOMAINS),
      pool: fc.constantFrom(...pools),
      reason: fc.string({ maxLength: 20 }),
      expiresAt: expiresArb,
    })
    .map(({ kind, tenantKey, domainKey, ...rest }) => assignment(kind, kind === 'tenant' ? tenantKey : domainKey, rest.pool, rest));
  return fc.array(one, { maxLength: 5 });
}

/** Independent oracle for "a live assignment of this tenant or sender domain (or a parent) to this pool". */
function assignedTo(f: MessageFacts, list: PoolAssignment[], pool: PoolName): boolean {
  return list.some((a) => {
    if (a.pool !== pool || !(a.expiresAt === null || new Date(a.expiresAt).getTime() > NOW.getTime())) return false;
    if (a.kind === 'tenant') return f.tenant !== null && f.tenant === a.key;
    return f.senderDomain !== null && (f.senderDomain === a.key || f.senderDomain.endsWith(`.${a.key}`));
  });
}

const highRiskRules = (f: MessageFacts, list: PoolAssignment[]): boolean[] => [
  f.isNdr,
  assignedTo(f, list, 'high-risk'),
  f.spamVerdict,
  f.overSendingLimits,
  f.domainHasA === false && f.domainHasMx === false,
];
const anyHighRisk = (f: MessageFacts, list: PoolAssignment[]) => highRiskRules(f, list).some(Boolean);
const canEscape = (f: MessageFacts) => f.senderInAcceptedDomain || f.spfPass || f.dkimPassForSender;

describe('classify: properties', () => {
  it('is high-risk exactly when a high-risk rule holds', () => {
    fc.assert(
      fc.property(factsArb, assignmentsArb(), (f, list) => {
        assert.equal(classify(f, list, NOW).pool === 'high-risk', anyHighRisk(f, list));
      }),
    );
  });

  it('without relay assignments, is relay only if forwarded, unverified and no high-risk rule holds', () => {
    fc.assert(
      fc.property(factsArb, assignmentsArb(['normal', 'high-risk']), (f, list) => {
        if (classify(f, list, NOW).pool === 'relay') {
          assert.ok(f.forwarded && !canEscape(f) && !anyHighRisk(f, list));
        }
      }),
    );
  });

  it('is relay whenever forwarded, unverified, no high-risk rule and no normal assignment', () => {
    fc.assert(
      fc.property(factsArb, assignmentsArb(), (f, list) => {
        const expected = (f.forwarded && !canEscape(f) && !assignedTo(f, list, 'normal')) || assignedTo(f, list, 'relay');
        if (!anyHighRisk(f, list)) assert.equal(classify(f, list, NOW).pool === 'relay', expected);
      }),
    );
  });

  it('always gives reasons, at least one per high-risk rule, the first naming the chosen pool', () => {
    fc.assert(
      fc.property(factsArb, assignmentsArb(), (f, list) => {
        const c = classify(f, list, NOW);
        assert.ok(c.reasons.length >= Math.max(1, highRiskRules(f, list).filter(Boolean).length));
        assert.ok(c.reasons.every((r) => r.trim().length > 0 && r.endsWith('.')));
        assert.ok((c.reasons[0] ?? '').includes(`${c.pool} pool`), c.reasons[0]);
      }),
    );
  });

  it('mentions the relay pool in some reason whenever the message was forwarded', () => {
    fc.assert(
      fc.property(factsArb, assignmentsArb(), (f, list) => {
        const c = classify(f, list, NOW);
        assert.equal(c.reasons.some((r) => /forwarded or relayed by us/.test(r)), f.forwarded);
      }),
    );
  });

  it('is deterministic, leaves its inputs alone and does not depend on the order of the assignments', () => {
    fc.assert(
      fc.property(
        factsArb,
        assignmentsArb().chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length }))),
        (f, [list, shuffled]) => {
          const before = JSON.stringify({ f, list });
          const c = classify(f, list, NOW);
          assert.deepEqual(classify(f, list, NOW), c);
          assert.equal(JSON.stringify({ f, list }), before);
          const d = classify(f, shuffled, NOW);
          assert.equal(d.pool, c.pool);
          assert.deepEqual([...d.reasons].sort(), [...c.reasons].sort());
        },
      ),
    );
  });
});

// ----- factsFromHeaders --------------------------------------------------------------------------------------------

describe('factsFromHeaders: non-delivery reports', () => {
  it('recognises a Postfix bounce (null Return-Path, multipart/report with a folded boundary)', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <>
Received: from mx1.example.net (mx1.example.net [192.0.2.25])
	by inbound.contoso.com with ESMTPS id 4Vx1
From: MAILER-DAEMON@mx1.example.net (Mail Delivery System)
To: alice@contoso.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status;
	boundary="5B1F3A0C2.1717243200/mx1.example.net"
`),
      OPTS,
    );
    assert.equal(f.isNdr, true);
    assert.equal(f.senderDomain, 'mx1.example.net', 'a null Return-Path falls back to the From domain');
  });

  it('recognises multipart/report with report-type=delivery-status alone, in any case and quoted', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <bounces@contoso.com>
From: bounces@contoso.com
Content-Type: Multipart/Report;
 boundary="b1"; Report-Type="Delivery-Status"
`),
      OPTS,
    );
    assert.equal(f.isNdr, true);
  });

  it('does not take a read receipt (report-type=disposition-notification) for an NDR', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <bob@contoso.com>
From: Bob <bob@contoso.com>
Content-Type: multipart/report; report-type=disposition-notification; boundary="x"
Subject: Read: Quarterly numbers
`),
      OPTS,
    );
    assert.equal(f.isNdr, false);
  });

  it('recognises a null Return-Path alone', () => {
    assert.equal(factsFromHeaders(headersOf('Return-Path: <>\nFrom: alerts@contoso.com\nSubject: hello'), OPTS).isNdr, true);
  });

  it('recognises an Exchange NDR from postmaster with Auto-Submitted and an Undeliverable subject', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <postmaster@contoso.onmicrosoft.com>
From: Microsoft Outlook <postmaster@contoso.onmicrosoft.com>
Subject: Undeliverable: Invoice 2025-117
Auto-Submitted: auto-replied
Content-Type: multipart/mixed; boundary="c"
`),
      OPTS,
    );
    assert.equal(f.isNdr, true);
    assert.equal(f.senderDomain, 'contoso.onmicrosoft.com');
  });

  it('decodes an RFC 2047 subject before looking for the delivery-status hint', () => {
    const subject = `=?utf-8?B?${Buffer.from('Delivery Status Notification (Failure)').toString('base64')}?=`;
    const h = headersOf(`Return-Path: <mailer-daemon@googlemail.com>\nFrom: Mail Delivery Subsystem <MAILER-DAEMON@googlemail.com>\nAuto-Submitted: auto-generated\nSubject: ${subject}`);
    assert.equal(factsFromHeaders(h, OPTS).isNdr, true);
  });

  it('needs all three parts of the daemon signal (From, Auto-Submitted, subject hint)', () => {
    const base = 'Return-Path: <mailer-daemon@mx.example.net>\n';
    const full = `${base}From: MAILER-DAEMON@mx.example.net\nAuto-Submitted: auto-replied\nSubject: Mail delivery failed: returning message to sender`;
    assert.equal(factsFromHeaders(headersOf(full), OPTS).isNdr, true);
    assert.equal(factsFromHeaders(headersOf(full.replace('Auto-Submitted: auto-replied\n', '')), OPTS).isNdr, false, 'no Auto-Submitted');
    assert.equal(factsFromHeaders(headersOf(full.replace('Auto-Submitted: auto-replied', 'Auto-Submitted: no')), OPTS).isNdr, false, 'Auto-Submitted: no');
    assert.equal(factsFromHeaders(headersOf(full.replace('MAILER-DAEMON@', 'alice@')), OPTS).isNdr, false, 'ordinary sender');
    assert.equal(factsFromHeaders(headersOf(full.replace('Mail delivery failed', 'Out of office')), OPTS).isNdr, false, 'no hint');
  });

  it('finds the "Returned mail" hint in any case', () => {
    const h = headersOf('From: postmaster@mx.example.net\nAuto-Submitted: auto-generated (failure)\nSubject: RETURNED MAIL: see transcript for details');
    assert.equal(factsFromHeaders(h, OPTS).isNdr, true);
  });

  it('does not call an ordinary message an NDR', () => {
    const f = factsFromHeaders(headersOf('Return-Path: <alice@contoso.com>\nFrom: Alice <alice@contoso.com>\nSubject: Undeliverable pallets in the warehouse'), OPTS);
    assert.equal(f.isNdr, false);
  });
});

describe('factsFromHeaders: spam verdicts', () => {
  const base = 'Return-Path: <alice@contoso.com>\nFrom: alice@contoso.com\n';

  it('reads X-Spam-Flag: YES in any case', () => {
    assert.equal(factsFromHeaders(headersOf(`${base}X-Spam-Flag: YES`), OPTS).spamVerdict, true);
    assert.equal(factsFromHeaders(headersOf(`${base}x-spam-flag: yes`), OPTS).spamVerdict, true);
    assert.equal(factsFromHeaders(headersOf(`${base}X-Spam-Flag: NO`), OPTS).spamVerdict, false);
  });

  it('reads a folded SpamAssassin X-Spam-Status: Yes', () => {
    const h = headersOf(`${base}X-Spam-Status: Yes, score=7.3 required=5.0 tests=BAYES_99,
\tHTML_MESSAGE,RDNS_NONE autolearn=no version=3.4.6`);
    assert.equal(factsFromHeaders(h, OPTS).spamVerdict, true);
    assert.equal(factsFromHeaders(headersOf(`${base}X-Spam-Status: No, score=-0.1 required=5.0`), OPTS).spamVerdict, false);
  });

  it('reads SFV:SPM in X-Forefront-Antispam-Report but not SFV:NSPM', () => {
    const spm = headersOf(`${base}X-Forefront-Antispam-Report: CIP:203.0.113.5;CTRY:;LANG:en;SCL:9;SRV:;IPV:NLI;SFV:SPM;H:mail.contoso.com;
 PTR:;CAT:SPM;SFS:(13230031)(4636009);DIR:OUT;SFP:1501;`);
    assert.equal(factsFromHeaders(spm, OPTS).spamVerdict, true);
    const clean = headersOf(`${base}X-Forefront-Antispam-Report: CIP:203.0.113.5;CTRY:;LANG:en;SCL:1;SRV:;IPV:NLI;SFV:NSPM;H:mail.contoso.com;CAT:NONE;DIR:OUT;`);
    assert.equal(factsFromHeaders(clean, OPTS).spamVerdict, false);
  });
});

describe('factsFromHeaders: authentication results', () => {
  it('reads SPF and DKIM passes from a folded Gmail-style Authentication-Results (header.i)', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <alice@example.com>
From: Alice <alice@example.com>
Authentication-Results: mx.google.com;
       dkim=pass header.i=@example.com header.s=s1 header.b=AbCdEf12;
       spf=pass (google.com: domain of alice@example.com designates 192.0.2.10 as permitted sender) smtp.mailfrom=alice@example.com;
       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.com
`),
      OPTS,
    );
    assert.equal(f.spfPass, true);
    assert.equal(f.dkimPassForSender, true);
  });

  it('reads an Exchange Online result without authserv-id, with DKIM for the parent of the sender domain', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <news@mail.example.com>
From: news@mail.example.com
Authentication-Results: spf=pass (sender IP is 192.0.2.10)
 smtp.mailfrom=mail.example.com; dkim=pass (signature was verified)
 header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass reason=100
`),
      OPTS,
    );
    assert.equal(f.spfPass, true);
    assert.equal(f.dkimPassForSender, true);
  });

  it('does not count a DKIM pass for another domain, a subdomain, or a look-alike', () => {
    for (const d of ['esp.example.net', 'mail.example.com', 'badexample.com']) {
      const h = headersOf(`Return-Path: <alice@example.com>\nAuthentication-Results: mx.contoso.com; dkim=pass header.d=${d} header.s=k1`);
      assert.equal(factsFromHeaders(h, OPTS).dkimPassForSender, false, d);
    }
  });

  it('does not count failing results, nor a pass written inside a comment', () => {
    const h = headersOf(
      'Return-Path: <alice@example.com>\nAuthentication-Results: mx.contoso.com; spf=softfail (would be spf=pass; not here) smtp.mailfrom=example.com; dkim=fail (dkim=pass header.d=example.com) header.d=example.com',
    );
    const f = factsFromHeaders(h, OPTS);
    assert.equal(f.spfPass, false);
    assert.equal(f.dkimPassForSender, false);
  });

  it('reads results in any case', () => {
    const f = factsFromHeaders(headersOf('Return-Path: <a@Example.COM>\nAuthentication-Results: MX.CONTOSO.COM; SPF=Pass smtp.mailfrom=example.com; DKIM=PASS Header.D=EXAMPLE.com'), OPTS);
    assert.equal(f.spfPass, true);
    assert.equal(f.dkimPassForSender, true);
  });

  it('reads Received-SPF: Pass as an SPF pass', () => {
    const h = headersOf('Return-Path: <a@example.com>\nReceived-SPF: Pass (mx.contoso.com: domain of a@example.com designates 192.0.2.10 as permitted sender)\n client-ip=192.0.2.10;');
    assert.equal(factsFromHeaders(h, OPTS).spfPass, true);
    assert.equal(factsFromHeaders(headersOf('Return-Path: <a@example.com>\nReceived-SPF: Fail (mx.contoso.com: no)'), OPTS).spfPass, false);
  });
});

describe('factsFromHeaders: forwarding', () => {
  const base = 'Return-Path: <alice@example.com>\nFrom: Alice <alice@example.com>\n';

  for (const line of [
    'Resent-From: Bob <bob@contoso.com>',
    'Resent-Sender: bob@contoso.com',
    'X-Forwarded-To: bob@gmail.example',
    'X-Forwarded-For: bob@contoso.com bob@gmail.example',
    'X-MS-Exchange-Inbox-Rules-Loop: bob@contoso.com',
    'Auto-Submitted: auto-forwarded',
    'AUTO-SUBMITTED: Auto-Forwarded; by=rules',
  ]) {
    it(`sees forwarding in "${line}"`, () => {
      assert.equal(factsFromHeaders(headersOf(base + line), OPTS).forwarded, true);
    });
  }

  it('does not see forwarding in an ordinary or auto-replied message', () => {
    assert.equal(factsFromHeaders(headersOf(base + 'Subject: hi'), OPTS).forwarded, false);
    assert.equal(factsFromHeaders(headersOf(base + 'Auto-Submitted: auto-replied'), OPTS).forwarded, false);
  });

  it('sees forwarding when the caller passes a header key in mixed case', () => {
    assert.equal(factsFromHeaders([{ key: 'X-Forwarded-To', value: 'bob@gmail.example' }], OPTS).forwarded, true);
  });
});

describe('factsFromHeaders: sender, tenant and accepted domains', () => {
  it('takes the sender domain from Return-Path before From, lowercased', () => {
    const f = factsFromHeaders(headersOf('Return-Path: <bounce-123@Bulk.ESP.example>\nFrom: "Contoso News" <news@contoso.com>'), OPTS);
    assert.equal(f.senderDomain, 'bulk.esp.example');
  });

  it('falls back to From, reading display names with <, comments and folding', () => {
    const f = factsFromHeaders(headersOf('From: "Smith, J <sales>" (Sales)\r\n <j.smith@Sales.Contoso.com> (via web)'), OPTS);
    assert.equal(f.senderDomain, 'sales.contoso.com');
  });

  it('writes an internationalised sender domain in its ASCII form', () => {
    assert.equal(factsFromHeaders(headersOf('From: info@Bücher.example'), OPTS).senderDomain, 'xn--bcher-kva.example');
  });

  it('leaves the sender domain null when neither header has one', () => {
    assert.equal(factsFromHeaders(headersOf('Return-Path: <>\nFrom: undisclosed-recipients:;'), OPTS).senderDomain, null);
    assert.equal(factsFromHeaders([], OPTS).senderDomain, null);
  });

  it('reads the tenant from the first occurrence of the configured header, matched in any case', () => {
    const h = headersOf('X-Postmaster-Tenant: contoso-01\nX-Postmaster-Tenant: fabrikam');
    assert.equal(factsFromHeaders(h, { tenantHeader: 'X-Postmaster-Tenant' }).tenant, 'contoso-01');
  });

  it('refuses a tenant value that is not a plain id', () => {
    for (const v of ['contoso 01', 'a'.repeat(65), 'contoso;rm', '']) {
      assert.equal(factsFromHeaders([{ key: 'x-postmaster-tenant', value: v }], OPTS).tenant, null, JSON.stringify(v));
    }
    assert.equal(factsFromHeaders([], OPTS).tenant, null);
  });

  it('finds the sender in an accepted domain or a subdomain of one, but not a look-alike', () => {
    const opts = { tenantHeader: 'x-t', acceptedDomains: ['Contoso.COM.'] };
    assert.equal(factsFromHeaders(headersOf('From: a@contoso.com'), opts).senderInAcceptedDomain, true);
    assert.equal(factsFromHeaders(headersOf('From: a@fabrikam.contoso.com'), opts).senderInAcceptedDomain, true);
    assert.equal(factsFromHeaders(headersOf('From: a@notcontoso.com'), opts).senderInAcceptedDomain, false);
    assert.equal(factsFromHeaders(headersOf('From: a@contoso.com'), { tenantHeader: 'x-t' }).senderInAcceptedDomain, false);
  });

  it('never guesses DNS answers or sending limits, and never throws, whatever is pasted', () => {
    const line = fc.record({
      key: fc.constantFrom('from', 'return-path', 'subject', 'authentication-results', 'content-type', 'auto-submitted', 'x-postmaster-tenant', 'x-spam-status'),
      value: fc.string({ maxLength: 80 }),
    });
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), (h) => {
        const f = factsFromHeaders(h, OPTS);
        assert.equal(f.domainHasA, null);
        assert.equal(f.domainHasMx, null);
        assert.equal(f.overSendingLimits, false);
        assert.ok(f.tenant === null || /^[A-Za-z0-9._-]{1,64}$/.test(f.tenant));
        assert.ok(f.senderDomain === null || f.senderDomain === f.senderDomain.toLowerCase());
      }),
    );
  });
});

describe('factsFromHeaders with classify', () => {
  it('puts a forwarded message that passed SPF in the normal pool with the SRS note', () => {
    const f = factsFromHeaders(
      headersOf(`
Return-Path: <alice@example.com>
From: Alice <alice@example.com>
X-Postmaster-Tenant: contoso
X-MS-Exchange-Inbox-Rules-Loop: bob@contoso.com
Authentication-Results: spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=example.com; dkim=none (message not signed) header.d=none
`),
      OPTS,
    );
    assert.deepEqual({ tenant: f.tenant, forwarded: f.forwarded, spfPass: f.spfPass, dkim: f.dkimPassForSender }, { tenant: 'contoso', forwarded: true, spfPass: true, dkim: false });
    const c = classify(f, [], NOW);
    assert.equal(c.pool, 'normal');
    assert.match(c.reasons[0] ?? '', /SPF passed.*SRS/);
  });

  it('puts an unauthenticated forwarded message in the relay pool', () => {
    const f = factsFromHeaders(headersOf('Return-Path: <alice@example.com>\nFrom: alice@example.com\nResent-From: bob@contoso.com\nAuthentication-Results: mx.contoso.com; spf=fail smtp.mailfrom=example.com'), OPTS);
    assert.equal(classify(f, [], NOW).pool, 'relay');
  });
});
