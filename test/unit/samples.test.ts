import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  NotOurMailError,
  SampleError,
  parseSample,
  sampleHashOf,
  type ParsedSample,
  type SampleLimits,
} from '../../src/domain/samples.js';
import { network } from '../helpers/network.js';

const limits: SampleLimits = { maxBytes: 10 * 1024 * 1024, maxMimeDepth: 10 };

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/samples/${name}`, import.meta.url));
const fixtureText = (name: string): string => fixture(name).toString('utf8');
const parse = (raw: Buffer | string, lim: SampleLimits = limits): Promise<ParsedSample> => parseSample(raw, network, lim);

/** Asserts that parsing rejects with a SampleError of that code and a readable message; returns it. */
async function refused(raw: Buffer | string, code: SampleError['code'], lim: SampleLimits = limits): Promise<SampleError> {
  try {
    await parse(raw, lim);
  } catch (err) {
    assert.ok(err instanceof SampleError, `expected SampleError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, /^[A-Z].{30,}\.$/s, 'a readable sentence');
    return err;
  }
  assert.fail(`expected SampleError(${code}) but the sample was accepted`);
}

/** Asserts that parsing rejects with NotOurMailError; returns it. */
async function notOurs(raw: Buffer | string): Promise<NotOurMailError> {
  try {
    await parse(raw);
  } catch (err) {
    assert.ok(err instanceof NotOurMailError, `expected NotOurMailError, got ${String(err)}`);
    assert.equal(err.code, 'NotOurMail');
    return err;
  }
  assert.fail('expected NotOurMailError but the sample was accepted');
}

type Expected = Pick<
  ParsedSample,
  'kind' | 'sourceIp' | 'pool' | 'ourHost' | 'handoffIndex' | 'tenant' | 'mailFrom' | 'from' | 'fromName' | 'messageId' | 'date' | 'subject' | 'feedbackType'
>;

const pick = (s: ParsedSample): Expected => ({
  kind: s.kind,
  sourceIp: s.sourceIp,
  pool: s.pool,
  ourHost: s.ourHost,
  handoffIndex: s.handoffIndex,
  tenant: s.tenant,
  mailFrom: s.mailFrom,
  from: s.from,
  fromName: s.fromName,
  messageId: s.messageId,
  date: s.date,
  subject: s.subject,
  feedbackType: s.feedbackType,
});

const FIXTURES: Record<string, Expected> = {
  'normal-ipv4.eml': {
    kind: 'message',
    sourceIp: '203.0.113.12',
    pool: 'normal',
    ourHost: 'o12.outbound.example.net',
    handoffIndex: 1,
    tenant: 'shop-example-7781',
    mailFrom: 'bounces+8843-aa1f@mail.shop.example.com',
    from: 'deals@shop.example.com',
    fromName: 'Shop Deals',
    messageId: '<20240305100000.8843.aa1f@shop.example.com>',
    date: '2024-03-05T10:00:00.000Z',
    subject: 'Last chance: 70% off everything',
    feedbackType: null,
  },
  'relay-pool.eml': {
    kind: 'message',
    sourceIp: '203.0.113.140',
    pool: 'relay',
    ourHost: 'r3.outbound.example.net',
    handoffIndex: 2,
    tenant: 'fwd.tenant_42',
    mailFrom: 'SRS0=Hx4t=KM=example.com=newsletter@forward.example.net',
    from: 'newsletter@example.com',
    fromName: 'Newsletter',
    messageId: '<digest-20240306@example.com>',
    date: '2024-03-06T08:15:00.000Z',
    subject: 'Your weekly digest',
    feedbackType: null,
  },
  'ipv6-handoff.eml': {
    kind: 'message',
    sourceIp: '2001:db8:25::7',
    pool: 'normal',
    ourHost: 'o7.outbound.example.net',
    handoffIndex: 1,
    tenant: 'v6tenant',
    mailFrom: null,
    from: 'billing@app.example.com',
    fromName: 'Billing',
    messageId: '<inv-99812@app.example.com>',
    date: '2024-03-07T12:00:00.000Z',
    subject: 'Invoice overdue',
    feedbackType: null,
  },
  'forged-below.eml': {
    kind: 'message',
    sourceIp: '203.0.113.70',
    pool: 'high-risk',
    ourHost: 'o70.outbound.example.net',
    handoffIndex: 1,
    tenant: 'lowrep-tenant-3',
    mailFrom: 'winner@prize.example.com',
    from: 'winner@prize.example.com',
    fromName: 'Prize Department',
    messageId: '<won.4471@prize.example.com>',
    date: '2024-03-08T09:29:00.000Z',
    subject: 'You have won',
    feedbackType: null,
  },
  'folded-lf.eml': {
    kind: 'message',
    sourceIp: '203.0.113.33',
    pool: 'normal',
    ourHost: 'o33.outbound.example.net',
    handoffIndex: 1,
    tenant: 'news-example',
    mailFrom: 'promo@news.example.com',
    from: 'promo@news.example.com',
    fromName: 'News',
    messageId: '<spring.2024.0309@news.example.com>',
    date: '2024-03-09T14:00:00.000Z',
    subject: 'Spring sale starts now',
    feedbackType: null,
  },
  'rfc2047-subject.eml': {
    kind: 'message',
    sourceIp: '203.0.113.21',
    pool: 'normal',
    ourHost: 'o21.outbound.example.net',
    handoffIndex: 1,
    tenant: 'kr-shop-01',
    mailFrom: 'bounce@shop.example.kr',
    from: 'sale@shop.example.kr',
    fromName: '김민수 쇼핑',
    messageId: '<kr-sale-0310@shop.example.kr>',
    date: '2024-03-09T16:00:00.000Z',
    subject: '특별 할인 안내 - 限时优惠',
    feedbackType: null,
  },
  'arf-inline.eml': {
    kind: 'arf',
    sourceIp: '203.0.113.20',
    pool: 'normal',
    ourHost: 'o20.outbound.example.net',
    handoffIndex: 1,
    tenant: 'arf-tenant-9',
    mailFrom: 'rp-bounce@mailer.example.com',
    from: 'pills@mailer.example.com',
    fromName: 'Cheap Pills',
    messageId: '<pills-001@mailer.example.com>',
    date: '2024-03-11T07:00:00.000Z',
    subject: 'Cheap pills',
    feedbackType: 'abuse',
  },
  'arf-attachment.eml': {
    kind: 'arf',
    sourceIp: '203.0.113.130',
    pool: 'relay',
    ourHost: 'r2.outbound.example.net',
    handoffIndex: 1,
    tenant: 'relay.tenant',
    mailFrom: 'fw@list.example.com',
    from: 'security@bank.example.com',
    fromName: 'Bank Security',
    messageId: '<verify-77@bank.example.com>',
    date: '2024-03-12T11:00:00.000Z',
    subject: 'Verify your account',
    feedbackType: 'fraud',
  },
  'arf-headers-only.eml': {
    kind: 'arf',
    sourceIp: '203.0.113.25',
    pool: 'normal',
    ourHost: 'o25.outbound.example.net',
    handoffIndex: 1,
    tenant: 'headers-only-tenant',
    mailFrom: 'bulk@promo.example.com',
    from: 'bulk@promo.example.com',
    fromName: 'Promo',
    messageId: '<hdr-only-1@promo.example.com>',
    date: '2024-03-13T16:00:00.000Z',
    subject: 'Headers only',
    feedbackType: 'abuse',
  },
  'arf-source-ip-only.eml': {
    kind: 'arf',
    sourceIp: '203.0.113.66',
    pool: 'high-risk',
    ourHost: null,
    handoffIndex: -1,
    tenant: null,
    mailFrom: null,
    from: 'offers@risky.example.com',
    fromName: 'Risky',
    messageId: '<redacted-1@risky.example.com>',
    date: '2024-03-14T10:00:00.000Z',
    subject: 'Redacted',
    feedbackType: 'abuse',
  },
  'xarf-json.eml': {
    kind: 'x-arf',
    sourceIp: '203.0.113.135',
    pool: 'relay',
    ourHost: 'r5.outbound.example.net',
    handoffIndex: 1,
    tenant: 'xarf-tenant',
    mailFrom: 'list@lists.example.com',
    from: 'list@lists.example.com',
    fromName: 'Lists',
    messageId: '<list-555@lists.example.com>',
    date: '2024-03-15T13:00:00.000Z',
    subject: 'Unwanted list mail',
    feedbackType: 'spam',
  },
  'forwarded-attachment.eml': {
    kind: 'forwarded',
    sourceIp: '203.0.113.44',
    pool: 'normal',
    ourHost: 'o44.outbound.example.net',
    handoffIndex: 1,
    tenant: 'coins-77',
    mailFrom: 'crypto@coins.example.com',
    from: 'crypto@coins.example.com',
    fromName: 'Crypto Gewinn',
    messageId: '<coins-double-1@coins.example.com>',
    date: '2024-03-16T18:00:00.000Z',
    subject: 'Double your coins',
    feedbackType: null,
  },
};

describe('parseSample: fixtures', () => {
  for (const [name, expected] of Object.entries(FIXTURES)) {
    it(`reads ${name}: ${expected.kind} via ${expected.sourceIp} (${expected.pool})`, async () => {
      const parsed = await parse(fixture(name));
      assert.deepEqual(pick(parsed), expected);
      assert.match(parsed.sampleHash, /^[0-9a-f]{64}$/);
      if (parsed.handoffIndex >= 0) assert.equal(parsed.hops[parsed.handoffIndex]?.fromIp, parsed.sourceIp);
    });
  }

  it('shows the original header block, not the report around it', async () => {
    const parsed = await parse(fixture('arf-inline.eml'));
    assert.match(parsed.originalHeaders, /^Received: from mx\.example\.org/);
    assert.match(parsed.originalHeaders, /\r\nMessage-ID: <pills-001@mailer\.example\.com>\r\nContent-Type: text\/plain$/);
    assert.doesNotMatch(parsed.originalHeaders, /Feedback-Type|Buy now/);
  });

  it('gives the ARF report fields', async () => {
    const parsed = await parse(fixture('arf-inline.eml'));
    assert.deepEqual(parsed.arf, {
      feedbackType: 'abuse',
      userAgent: 'ExampleFBL/1.0',
      version: '1',
      sourceIp: '203.0.113.20',
      originalMailFrom: '<rp-bounce@mailer.example.com>',
      originalRcptTo: '<ivan@example.org>',
      arrivalDate: 'Mon, 11 Mar 2024 07:00:02 +0000',
      reportedDomain: 'mailer.example.com',
    });
  });

  it('maps the X-ARF report onto the ARF fields', async () => {
    const parsed = await parse(fixture('xarf-json.eml'));
    assert.equal(parsed.arf?.sourceIp, '203.0.113.135');
    assert.equal(parsed.arf?.userAgent, 'ExampleXARF 2.1');
    assert.equal(parsed.arf?.arrivalDate, '2024-03-15T13:00:02Z');
  });

  it('has no ARF fields for plain and forwarded messages', async () => {
    assert.equal((await parse(fixture('normal-ipv4.eml'))).arf, null);
    assert.equal((await parse(fixture('forwarded-attachment.eml'))).arf, null);
  });

  it('keeps every Received line of the original as a hop, the forged ones too', async () => {
    const parsed = await parse(fixture('forged-below.eml'));
    assert.deepEqual(
      parsed.hops.map((h) => [h.fromIp, h.ourHop]),
      [
        ['192.0.2.25', false],
        ['203.0.113.70', false],
        ['10.20.0.1', true],
        ['198.51.100.99', true],
        ['203.0.113.5', true],
        ['203.0.113.150', true],
      ],
    );
  });

  it('refuses the foreign fixture as not our mail, with its hops and what to do', async () => {
    const err = await notOurs(fixture('foreign.eml'));
    assert.equal(err.hops.length, 3);
    assert.deepEqual(
      err.hops.map((h) => h.fromIp),
      ['10.0.0.2', '198.51.100.23', '192.0.2.200'],
    );
    assert.match(err.message, /did not leave through our network/);
    assert.match(err.message, /report it to the network it came from/);
    assert.match(err.message, /full, unchanged headers/);
  });
});

describe('parseSample: input guards', () => {
  it('refuses a sample larger than maxBytes as TOO_LARGE, before anything else', async () => {
    const err = await refused(fixture('normal-ipv4.eml'), 'TOO_LARGE', { ...limits, maxBytes: 1000 });
    assert.match(err.message, /1000 bytes/);
    await refused(Buffer.alloc(2000, 0), 'TOO_LARGE', { ...limits, maxBytes: 1000 });
  });

  it('accepts a sample of exactly maxBytes', async () => {
    const raw = fixture('normal-ipv4.eml');
    assert.equal((await parse(raw, { ...limits, maxBytes: raw.length })).sourceIp, '203.0.113.12');
  });

  it('measures the size of a string in UTF-8 bytes', async () => {
    const raw = fixtureText('rfc2047-subject.eml') + '한'.repeat(100);
    await refused(raw, 'TOO_LARGE', { ...limits, maxBytes: Buffer.byteLength(raw) - 1 });
  });

  it('refuses random bytes with NULs as BINARY', async () => {
    const junk = randomBytes(4096);
    junk[100] = 0;
    await refused(junk, 'BINARY');
  });

  it('refuses a message with a NUL byte as BINARY', async () => {
    await refused(fixtureText('normal-ipv4.eml').replace('Last chance!', 'Last\u0000chance!'), 'BINARY');
  });

  it('refuses text with more than 10% control characters as BINARY, and accepts fewer', async () => {
    const body = 'a'.repeat(880) + '\u0001'.repeat(120);
    await refused(`Subject: x\r\n\r\n${body}`, 'BINARY');
    const fewer = await notOurs(`Subject: x\r\n\r\n${'a'.repeat(950)}${'\u0001'.repeat(50)}`);
    assert.equal(fewer.hops.length, 0);
  });

  it('refuses a header block that is not UTF-8 as BINARY', async () => {
    const raw = Buffer.concat([Buffer.from('Subject: caf'), Buffer.from([0xe9]), Buffer.from('\r\nFrom: a@example.com\r\n\r\nbody')]);
    await refused(raw, 'BINARY');
  });

  it('refuses prose as NOT_A_MESSAGE, telling how to get the message source', async () => {
    const err = await refused(fixture('not-a-message.eml'), 'NOT_A_MESSAGE');
    assert.match(err.message, /Show original/);
  });

  it('refuses empty input, header-shaped text without a mail header, and a header block with a stray line', async () => {
    await refused('', 'NOT_A_MESSAGE');
    await refused('\r\n\r\n', 'NOT_A_MESSAGE');
    await refused('Note: I got spam\r\nWhat: pills\r\n\r\nPlease help', 'NOT_A_MESSAGE');
    await refused('Subject: hi\r\nthis line is not a header\r\n\r\nbody', 'NOT_A_MESSAGE');
    await refused(' Subject: starts with a continuation\r\n\r\nbody', 'NOT_A_MESSAGE');
  });

  it('refuses MIME nested 12 deep as TOO_DEEP', async () => {
    const err = await refused(fixture('nested-12.eml'), 'TOO_DEEP');
    assert.match(err.message, /10 levels/);
  });

  it('checks the guards in order: size, binary, shape, depth', async () => {
    const binaryProse = Buffer.concat([Buffer.from('hello there\0'), randomBytes(64)]);
    await refused(binaryProse, 'TOO_LARGE', { ...limits, maxBytes: 10 });
    await refused(binaryProse, 'BINARY');
    await refused(Buffer.from('just some words, no headers'), 'NOT_A_MESSAGE');
    await refused(fixture('nested-12.eml'), 'TOO_LARGE', { ...limits, maxBytes: 100 });
  });

  it('accepts a BOM, blank lines and an mbox "From " line before the headers', async () => {
    const raw = `\uFEFF\r\n  \r\nFrom deals@shop.example.com Tue Mar  5 10:00:00 2024\r\n${fixtureText('normal-ipv4.eml')}`;
    const parsed = await parse(raw);
    assert.equal(parsed.sourceIp, '203.0.113.12');
    assert.equal(parsed.sampleHash, (await parse(fixture('normal-ipv4.eml'))).sampleHash);
  });

  it('reads a first header in the obsolete "From : value" form as a header, not as an mbox line', async () => {
    const raw = `From : "Shop" <deals@shop.example.com>\r\n${fixtureText('normal-ipv4.eml').replace(/^From: .*\r\n/m, '')}`;
    const parsed = await parse(raw);
    assert.deepEqual([parsed.from, parsed.sourceIp], ['deals@shop.example.com', '203.0.113.12']);
  });
});

/** A message whose body nests `levels` multiparts (the innermost text part sits at depth `levels`). */
function nestedMultipart(levels: number): string {
  let body = 'Content-Type: text/plain\r\n\r\ninnermost\r\n';
  for (let level = levels - 1; level >= 0; level--) {
    body = `Content-Type: multipart/mixed; boundary="n${level}"\r\n\r\n--n${level}\r\n${body}--n${level}--\r\n`;
  }
  return `Received: from o1.outbound.example.net (o1.outbound.example.net [203.0.113.1]) by mx.example.org; Tue, 5 Mar 2024\r\nSubject: nested\r\n${body}`;
}

/** A message with `levels` message/rfc822 parts inside each other, each inside a multipart/mixed (2 levels each). */
function nestedForwards(levels: number): string {
  let message = 'Subject: innermost\r\nReceived: from o2.outbound.example.net (o2.outbound.example.net [203.0.113.2]) by mx.example.org\r\n\r\nhello\r\n';
  for (let level = 0; level < levels; level++) {
    const b = `f${level}`;
    message = `Subject: fwd ${level}\r\nContent-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\nContent-Type: message/rfc822\r\n\r\n${message}\r\n--${b}--\r\n`;
  }
  return message;
}

describe('parseSample: MIME depth', () => {
  it('accepts nesting of exactly maxMimeDepth and refuses one more', async () => {
    assert.equal((await parse(nestedMultipart(10))).sourceIp, '203.0.113.1');
    await refused(nestedMultipart(11), 'TOO_DEEP');
    await refused(nestedMultipart(4), 'TOO_DEEP', { ...limits, maxMimeDepth: 3 });
  });

  it('counts message/rfc822 levels too, where postal-mime alone would not', async () => {
    // Each forward adds a multipart level and a message level: 5 forwards reach depth 10, 6 go past it.
    assert.equal((await parse(nestedForwards(1))).kind, 'forwarded');
    // Attached messages are entered at every level (issue 15: a JMRP complaint forwarded is two levels deep).
    assert.equal((await parse(nestedForwards(5))).sourceIp, '203.0.113.2');
    await refused(nestedForwards(6), 'TOO_DEEP');
  });

  it('refuses a sample with more than 5000 MIME parts', async () => {
    const raw = `Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n${'--b\r\n\r\nx\r\n'.repeat(5001)}--b--\r\n`;
    const err = await refused(raw, 'TOO_DEEP');
    assert.match(err.message, /5000 MIME parts/);
  });
});

describe('parseSample: where the message left', () => {
  it('is not swayed by forged lines below the hand-off: another pool, our host names and a second tenant header', async () => {
    const parsed = await parse(fixture('forged-below.eml'));
    assert.equal(parsed.pool, 'high-risk');
    assert.equal(parsed.tenant, 'lowrep-tenant-3');
    assert.notEqual(parsed.sourceIp, '203.0.113.5');
  });

  it('ignores any Received lines inserted below the hand-off (property)', async () => {
    const raw = fixtureText('normal-ipv4.eml');
    const anchor = 'Received: from submit3.outbound.example.net';
    const expected = pick(await parse(raw));
    const line = fc.oneof(
      fc.tuple(fc.ipV4(), fc.constantFrom('o5.outbound.example.net', 'mx.example.org', 'r1.outbound.example.net')).map(([ip, host]) => `Received: from ${host} (${host} [${ip}]) by ${host}; Tue, 5 Mar 2024`),
      fc.integer({ min: 0, max: 191 }).map((n) => `Received: from o${n}.outbound.example.net ([203.0.113.${n}]) by o99.outbound.example.net`),
      fc.stringMatching(/^[A-Za-z0-9 ()[\].:;=-]{0,60}$/).map((s) => `Received: ${s}`),
      fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/).map((t) => `X-Tenant-Id: ${t}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(line, { minLength: 1, maxLength: 5 }), async (lines) => {
        const forged = raw.replace(anchor, `${lines.join('\r\n')}\r\n${anchor}`);
        assert.deepEqual(pick(await parse(forged)), expected);
      }),
      { numRuns: 60 },
    );
  });

  it('uses the ARF Source-IP only when the original has no hop in our pools', async () => {
    const withOtherSource = fixtureText('arf-inline.eml').replace('Source-IP: 203.0.113.20', 'Source-IP: 203.0.113.140');
    const parsed = await parse(withOtherSource);
    assert.equal(parsed.sourceIp, '203.0.113.20');
    assert.equal(parsed.handoffIndex, 1);
  });

  it('refuses an ARF report whose original is foreign and whose Source-IP is not ours', async () => {
    const foreign = fixtureText('arf-source-ip-only.eml').replace('Source-IP: 203.0.113.66', 'Source-IP: 198.51.100.66');
    const err = await notOurs(foreign);
    assert.equal(err.hops.length, 1);
  });

  it('reads an ARF report without any original from Source-IP, hashing the report itself', async () => {
    const raw = fixtureText('arf-headers-only.eml').replace(/--hdrs3\r\nContent-Type: text\/rfc822-headers[\s\S]*?(?=--hdrs3--)/, '');
    const parsed = await parse(raw);
    assert.deepEqual([parsed.sourceIp, parsed.handoffIndex, parsed.hops.length, parsed.messageId, parsed.originalHeaders], ['203.0.113.25', -1, 0, null, '']);
    assert.equal(parsed.sampleHash, sampleHashOf(raw));
  });

  it('recognises ARF by report-type regardless of case and quoting, and reads a base64-encoded original', async () => {
    const original = readFileSync(new URL('../fixtures/samples/arf-attachment.eml', import.meta.url), 'utf8');
    const start = original.indexOf('Received: from mx.example.org');
    const end = original.lastIndexOf('\r\n--arfb2--');
    const encoded = Buffer.from(original.slice(start, end)).toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = `${original.slice(0, start).replace('report-type="Feedback-Report"', 'REPORT-TYPE=FEEDBACK-REPORT').replace('Content-Type: message/rfc822\r\n', 'Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n')}${encoded}\r\n--arfb2--\r\n`;
    const parsed = await parse(raw);
    assert.deepEqual([parsed.kind, parsed.sourceIp, parsed.messageId], ['arf', '203.0.113.130', '<verify-77@bank.example.com>']);
    assert.equal(parsed.sampleHash, (await parse(fixture('arf-attachment.eml'))).sampleHash);
  });

  it('reads an X-ARF JSON report sent as text/plain', async () => {
    const raw = fixtureText('xarf-json.eml').replace('Content-Type: application/json; name="report.json"', 'Content-Type: text/plain; charset=utf-8; name="report.txt"');
    const parsed = await parse(raw);
    assert.deepEqual([parsed.kind, parsed.feedbackType, parsed.sourceIp], ['x-arf', 'spam', '203.0.113.135']);
  });

  it('takes the X-ARF Category when there is no Report-Type', async () => {
    const raw = fixtureText('xarf-json.eml').replace('  "Report-Type": "spam",\r\n', '');
    assert.equal((await parse(raw)).feedbackType, 'abuse');
  });

  it('uses the X-ARF Source when there is no evidence, and refuses it when Source is not ours', async () => {
    const raw = fixtureText('xarf-json.eml').replace(/--xarf_5_boundary\r\nContent-Type: message\/rfc822[\s\S]*?(?=--xarf_5_boundary--)/, '');
    const parsed = await parse(raw);
    assert.deepEqual([parsed.kind, parsed.sourceIp, parsed.pool, parsed.handoffIndex, parsed.tenant], ['x-arf', '203.0.113.135', 'relay', -1, null]);
    await notOurs(raw.replace('"Source": "203.0.113.135"', '"Source": "192.0.2.135"'));
  });

  it('refuses a forwarded message whose own chain is foreign, reporting the hops of the attachment', async () => {
    const raw = fixtureText('forwarded-attachment.eml').replace('[203.0.113.44]:41822', '[198.51.100.44]:41822');
    const err = await notOurs(raw);
    assert.deepEqual(
      err.hops.map((h) => h.fromIp),
      ['192.0.2.50', '198.51.100.44'],
    );
  });

  it('prefers the outer chain when the forwarding reporter is also behind our network', async () => {
    const raw = fixtureText('forwarded-attachment.eml').replace('(dsl-200.example.org [198.51.100.200])', '(o9.outbound.example.net [203.0.113.9])');
    const parsed = await parse(raw);
    assert.deepEqual([parsed.kind, parsed.sourceIp, parsed.messageId], ['message', '203.0.113.9', '<fwd-mia-1@example.org>']);
  });

  it('explains a message without any Received lines', async () => {
    const err = await notOurs('From: a@example.com\r\nSubject: hi\r\n\r\nbody');
    assert.deepEqual(err.hops, []);
    assert.match(err.message, /"Received:" header lines/);
    assert.match(err.message, /all of its headers/);
  });
});

describe('parseSample: header fields', () => {
  const base = fixtureText('normal-ipv4.eml');

  it('takes the topmost tenant header and ignores one that is not a well-formed id', async () => {
    const twoTenants = base.replace('X-Tenant-Id: shop-example-7781', 'X-Tenant-Id: first\r\nX-Tenant-Id: second');
    assert.equal((await parse(twoTenants)).tenant, 'first');
    for (const bad of ['has space', 'semi;colon', 'x'.repeat(65), '']) {
      const raw = base.replace('X-Tenant-Id: shop-example-7781', `X-Tenant-Id: ${bad}\r\nX-Tenant-Id: ok-lower`);
      assert.equal((await parse(raw)).tenant, null, bad);
    }
  });

  it('reads the tenant header named in the network policy, case-insensitively', async () => {
    const raw = base.replace('X-Tenant-Id: shop-example-7781', 'x-our-tenant: t1');
    assert.equal((await parseSample(raw, { ...network, tenantHeader: 'X-Our-Tenant' }, limits)).tenant, 't1');
  });

  it('gives mailFrom from ARF Original-Mail-From before the Return-Path, and null for "<>"', async () => {
    const raw = fixtureText('arf-inline.eml').replace('Original-Mail-From: <rp-bounce@mailer.example.com>', 'Original-Mail-From: <other@mailer.example.com>');
    assert.equal((await parse(raw)).mailFrom, 'other@mailer.example.com');
    const none = fixtureText('arf-inline.eml').replace('Original-Mail-From: <rp-bounce@mailer.example.com>\r\n', '');
    assert.equal((await parse(none)).mailFrom, 'rp-bounce@mailer.example.com');
    assert.equal((await parse(base.replace('Return-Path: <bounces+8843-aa1f@mail.shop.example.com>', 'Return-Path: <>'))).mailFrom, null);
  });

  it('keeps an unparseable Date as written, and has nulls for missing fields', async () => {
    const raw = base.replace('Date: Tue, 05 Mar 2024 10:00:00 +0000', 'Date: sometime last week').replace(/^Message-ID: .*\r\n/m, '').replace(/^From: .*\r\n/m, '');
    const parsed = await parse(raw);
    assert.equal(parsed.date, 'sometime last week');
    assert.equal(parsed.messageId, null);
    assert.equal(parsed.from, null);
    assert.equal(parsed.fromName, null);
  });

  it('decodes raw UTF-8 in the subject and a quoted display name with a comma', async () => {
    const raw = base.replace('Subject: Last chance: 70% off everything', 'Subject: 마지막 기회 最后机会').replace('From: "Shop Deals" <deals@shop.example.com>', 'From: "Deals, Shop" <deals@shop.example.com>');
    const parsed = await parse(raw);
    assert.equal(parsed.subject, '마지막 기회 最后机会');
    assert.deepEqual([parsed.fromName, parsed.from], ['Deals, Shop', 'deals@shop.example.com']);
  });

  it('gives the same result for a Buffer and a string, CRLF and LF', async () => {
    const crlf = await parse(fixture('normal-ipv4.eml'));
    const lf = await parse(base.replace(/\r\n/g, '\n'));
    assert.deepEqual(pick(lf), pick(crlf));
    assert.equal(lf.sampleHash, crlf.sampleHash);
  });
});

describe('sampleHash', () => {
  it('is the sha256 of the text with LF line endings and the trailing whitespace trimmed', async () => {
    const parsed = await parse(fixture('normal-ipv4.eml'));
    const { createHash } = await import('node:crypto');
    const normalised = fixtureText('normal-ipv4.eml').replace(/\r\n/g, '\n').trimEnd();
    assert.equal(parsed.sampleHash, createHash('sha256').update(normalised, 'utf8').digest('hex'));
  });

  it('ignores trailing whitespace and line-ending style but not content', () => {
    assert.equal(sampleHashOf('a\r\nb\r\n\r\n  \t'), sampleHashOf('a\nb'));
    assert.equal(sampleHashOf('a\rb'), sampleHashOf('a\nb'));
    assert.notEqual(sampleHashOf('a\nb'), sampleHashOf('a\nB'));
    assert.notEqual(sampleHashOf(' a'), sampleHashOf('a'));
  });

  it('is the same for an original reported through ARF and the same message reported directly', async () => {
    const arf = await parse(fixture('arf-inline.eml'));
    const text = fixtureText('arf-inline.eml');
    const start = text.indexOf('Received: from mx.example.org');
    const end = text.indexOf('\r\n--part1_13d.2e68ed54_boundary--');
    const direct = await parse(text.slice(start, end).replace(/\r\n/g, '\n'));
    assert.equal(direct.kind, 'message');
    assert.equal(direct.sampleHash, arf.sampleHash);
    assert.equal(direct.messageId, arf.messageId);
  });
});

// ---- robustness properties ---------------------------------------------------------------------------------

/** Runs parseSample and fails unless it resolves or rejects with SampleError / NotOurMailError. */
async function onlyExpectedErrors(raw: Buffer | Uint8Array | string): Promise<void> {
  try {
    const parsed = await parseSample(raw, network, limits);
    assert.match(parsed.sampleHash, /^[0-9a-f]{64}$/);
  } catch (err) {
    if (err instanceof SampleError || err instanceof NotOurMailError) return;
    throw err;
  }
}

const FIXTURE_NAMES = [...Object.keys(FIXTURES), 'foreign.eml', 'nested-12.eml', 'not-a-message.eml'];

type Mutation = { at: number; op: 'flip' | 'insert' | 'delete' | 'cut' | 'dup'; byte: number; len: number };

function mutate(source: Buffer, mutations: Mutation[]): Buffer {
  let buf = Buffer.from(source);
  for (const { at, op, byte, len } of mutations) {
    const i = buf.length === 0 ? 0 : at % buf.length;
    if (op === 'flip') buf[i] = byte;
    else if (op === 'insert') buf = Buffer.concat([buf.subarray(0, i), Buffer.from([byte]), buf.subarray(i)]);
    else if (op === 'delete') buf = Buffer.concat([buf.subarray(0, i), buf.subarray(i + len)]);
    else if (op === 'cut') buf = buf.subarray(0, i);
    else buf = Buffer.concat([buf.subarray(0, i + len), buf.subarray(i)]);
  }
  return buf;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('flip', 'insert', 'delete', 'cut', 'dup'),
  byte: fc.oneof(fc.constantFrom(10, 13, 32, 9, 58, 59, 40, 41, 45, 60, 62, 91, 93, 0x22, 0x3d), fc.integer({ min: 0, max: 255 })),
  len: fc.integer({ min: 1, max: 200 }),
});

describe('parseSample robustness properties', () => {
  it('only ever rejects arbitrary strings with SampleError or NotOurMailError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.string().map((s) => `Subject: ${s}\r\nReceived: ${s}\r\n\r\n${s}`)), onlyExpectedErrors),
      { numRuns: 300 },
    );
  });

  it('only ever rejects arbitrary byte arrays with SampleError or NotOurMailError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 2000 }), fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => Buffer.concat([Buffer.from('From: a@example.com\r\n'), b]))), onlyExpectedErrors),
      { numRuns: 300 },
    );
  });

  it('only ever rejects mutated fixtures with SampleError or NotOurMailError', async () => {
    const sources = FIXTURE_NAMES.map(fixture);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...sources), fc.array(mutation, { minLength: 1, maxLength: 8 }), async (source, mutations) => {
        await onlyExpectedErrors(mutate(source, mutations));
      }),
      { numRuns: 400 },
    );
  });
});
