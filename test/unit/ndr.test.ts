import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { adviseNdr, NDR_MAX_CHARS, parseNdr, type NdrKind } from '../../src/domain/ndr.js';

/**
 * The texts in test/fixtures/ndr are written in the shapes real receiving systems send (Postfix, Exim, Sendmail,
 * Exchange on-premises and Online, Gmail, Yahoo, Hotmail, and our own MTAs); test/fixtures/ndr/README.md names the
 * public corpora and vendor pages each layout follows (sisimai's set-of-emails, Microsoft Learn, Google, Yahoo).
 */
const fixture = (name: string) => readFileSync(new URL(`../fixtures/ndr/${name}`, import.meta.url), 'utf8');

describe('parseNdr + adviseNdr over bounce messages of several receiving systems', () => {
  const cases: Array<{
    file: string;
    system: string;
    kind: NdrKind;
    code: string;
    reply?: string;
    ip?: string | null;
    text?: RegExp;
    remote?: { name: string | null; ip: string | null } | null;
    reporting?: string | null;
    microsoft?: boolean;
  }> = [
    { file: 'postfix-ours-5.7.606.eml', system: 'Postfix DSN, rejected by our MX (reply folded after "550")', kind: 'ourListing', code: '5.7.606', reply: '550', ip: '198.51.100.23', text: /^Access denied, banned sending IP \[198\.51\.100\.23\]/, remote: { name: 'mx1.customer.example', ip: '192.0.2.25' }, reporting: 'mail.sender.example' },
    { file: 'exim-ours-5.7.511.eml', system: 'Exim, host name [ip] on its own line', kind: 'ourStaff', code: '5.7.511', reply: '550', ip: '198.51.100.40', remote: { name: 'mx2.customer.example', ip: '192.0.2.26' }, reporting: 'relay.sender.example' },
    { file: 'exchange-online-ours-5.7.606.txt', system: "Exchange Online NDR, 'Remote Server at host (ip) returned'", kind: 'ourListing', code: '5.7.606', ip: '203.0.113.77', remote: { name: 'mx1.customer.example', ip: '192.0.2.25' }, reporting: 'am6pr01mb5555.eurprd01.prod.exchangelabs.com' },
    { file: 'office365-microsoft-5.7.606.eml', system: "Microsoft 365's own 5.7.606 as Microsoft writes it", kind: 'microsoftList', code: '5.7.606', ip: '198.51.100.61', text: /sender\.office\.com/, remote: { name: 'contoso-example.mail.protection.outlook.com', ip: '52.101.68.5' }, microsoft: true },
    { file: 'exchange-microsoft-5.7.511.txt', system: "Microsoft's 5.7.511 in an Exchange NDR", kind: 'microsoftList', code: '5.7.511', ip: '198.51.100.62', reporting: 'ex01.sender.example', microsoft: true },
    { file: 'exchange-onprem-5.7.1.eml', system: 'Exchange on-premises #550 5.7.1 (quoted-printable soft breaks)', kind: 'policy', code: '5.7.1', text: /^RESOLVER\.RST\.AuthRequired; authentication required ##rfc822;all-staff@customer\.example/, reporting: 'mail.customer.example' },
    { file: 'gmail-5.7.26.eml', system: 'Gmail multi-line 550-5.7.26 folded by Postfix', kind: 'authentication', code: '5.7.26', text: /^This mail has been blocked because the sender is unauthenticated\. Gmail requires all senders to authenticate with either SPF or DKIM\./, remote: { name: 'gmail-smtp-in.l.google.com', ip: '2001:4860:4864:20::1a' } },
    { file: 'gmail-transcript-spam.txt', system: 'Gmail 550-5.7.1 transcript lines', kind: 'spam', code: '5.7.1', ip: '198.51.100.70', text: /likely unsolicited mail\. To reduce the amount of spam sent to Gmail, this message has been blocked\./ },
    { file: 'gmail-old-5.1.1.eml', system: "Gmail's '550 550 5.1.1' (quoted-printable)", kind: 'unknownUser', code: '5.1.1', reply: '550', text: /^user unknown \(UserSearch\)/, reporting: 'googlemail.com' },
    { file: 'gmail-throttled-4.7.28.txt', system: 'Gmail 421-4.7.28 rate limit', kind: 'throttled', code: '4.7.28', reply: '421' },
    { file: 'gmail-quota-4.2.2.txt', system: 'Gmail 452-4.2.2 over quota', kind: 'mailboxFull', code: '4.2.2' },
    { file: 'postfix-yahoo-5.7.9.eml', system: "Yahoo's 554 5.7.9 via Postfix", kind: 'spam', code: '5.7.9', reply: '554', remote: { name: 'mx-aol.mail.gm0.yahoodns.net', ip: '67.195.204.80' } },
    { file: 'yahoo-tss04.txt', system: "Yahoo's 421 4.7.0 [TSS04] deferral", kind: 'throttled', code: '4.7.0', ip: '198.51.100.72' },
    { file: 'yahoo-bl21.txt', system: "Yahoo's 553 5.7.1 [BL21] (Spamhaus) via Exim", kind: 'otherBlocklist', code: '5.7.1', ip: '198.51.100.73', remote: { name: 'mta6.am0.yahoodns.net', ip: '67.195.204.72' } },
    { file: 'sendmail-5.1.1.eml', system: 'Sendmail transcript and DSN', kind: 'unknownUser', code: '5.1.1', remote: { name: 'mx.example.org', ip: null }, reporting: 'mx.sender.example' },
    { file: 'hotmail-5.2.2.eml', system: 'Hotmail DSN, Status and Diagnostic-Code only', kind: 'mailboxFull', code: '5.2.2', reporting: 'blu004-omc3s13.hotmail.example.com' },
    { file: 'ours-tenant-5.7.750.txt', system: 'our 5.7.750 to a tenant', kind: 'ourTenant', code: '5.7.750', reporting: 'o12.outbound.example.net' },
    { file: 'postfix-delayed-4.4.1.txt', system: 'Postfix delay warning (Status 4.4.1 explained by an X-Postfix Diagnostic-Code)', kind: 'temporary', code: '4.4.1', text: /^connect to mx\.slow\.example\[192\.0\.2\.99\]:25: Connection timed out$/, remote: { name: 'mx.slow.example', ip: '192.0.2.99' } },
    { file: 'outlook-s3150.txt', system: "Outlook.com's S3150 block list", kind: 'otherBlocklist', code: '5.7.1', ip: '198.51.100.74', microsoft: true },
  ];
  for (const c of cases) {
    it(`${c.system}: ${c.kind} ${c.code}`, () => {
      const reading = parseNdr(fixture(c.file));
      const advice = adviseNdr(reading);
      assert.equal(advice.kind, c.kind);
      assert.equal(advice.primary?.code, c.code);
      if (c.reply) assert.equal(advice.primary?.reply, c.reply);
      if (c.ip !== undefined) assert.equal(advice.ip, c.ip);
      if (c.text) assert.match(advice.primary!.text, c.text);
      if (c.remote !== undefined) assert.deepEqual(reading.remoteHost, c.remote);
      if (c.reporting !== undefined) assert.equal(reading.reportingMta, c.reporting);
      assert.equal(advice.microsoft, c.microsoft ?? false);
      assert.equal(advice.ours, c.kind.startsWith('our'));
      assert.equal(reading.truncated, false);
    });
  }

  it('stops where the returned message begins: codes and addresses quoted in it never count', () => {
    for (const file of ['postfix-ours-5.7.606.eml', 'sendmail-5.1.1.eml']) {
      const reading = parseNdr(fixture(file));
      assert.ok(!reading.statuses.some((s) => s.code === '5.2.2' || (file.startsWith('sendmail') && s.code === '5.7.606')), file);
      assert.ok(!reading.addresses.includes('203.0.113.250'), file);
    }
    assert.deepEqual(parseNdr(fixture('postfix-ours-5.7.606.eml')).statuses.map((s) => s.code), ['5.7.606']);
  });

  it('a listed range in brackets (our Postfix table writes the listed CIDR) is a range, not the IP to delist', () => {
    const advice = adviseNdr(parseNdr(fixture('ours-range-5.7.606.txt')));
    assert.equal(advice.kind, 'ourListing');
    assert.equal(advice.ip, null);
    assert.equal(advice.range, '198.51.100.0/24');
  });
});

describe('parseNdr: the forms of a status code', () => {
  const primary = (text: string) => adviseNdr(parseNdr(text));

  it('reads a multi-line reply 550-5.7.606 … 550 5.7.606 … as one code with one text', () => {
    const a = primary('550-5.7.606 Access denied, banned sending IP\r\n550-5.7.606 [198.51.100.23]. Please see\r\n550 5.7.606 https://portal.example/bounce');
    assert.equal(a.kind, 'ourListing');
    assert.equal(a.primary?.text, 'Access denied, banned sending IP [198.51.100.23]. Please see https://portal.example/bounce');
    assert.equal(a.ip, '198.51.100.23');
    assert.equal(parseNdr('550-5.7.606 a\n550-5.7.606 b\n550 5.7.606 c').statuses.length, 1);
  });

  it('reads the Diagnostic-Code of a delivery-status part over a bare Status: 5.0.0', () => {
    const a = primary('Reporting-MTA: dns; out.example.org\n\nFinal-Recipient: rfc822; x@customer.example\nAction: failed\nStatus: 5.0.0\nDiagnostic-Code: smtp; 550 5.7.649 Access denied, banned sending IP\n    [2001:db8:5::7]');
    assert.equal(a.primary?.code, '5.7.649');
    assert.equal(a.primary?.source, 'diagnostic-code');
    assert.equal(a.kind, 'ourListing');
    assert.equal(a.ip, '2001:db8:5::7');
    assert.deepEqual(a.others.map((o) => o.finding.code), ['5.0.0']);
  });

  it("reads Exchange's #5.x.x forms", () => {
    assert.equal(primary("Remote Server returned '< #5.0.0 smtp; 550 5.7.640 Access denied, banned sending IP [198.51.100.9]>'").primary?.code, '5.7.640');
    const hash = parseNdr('#550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup ##');
    assert.equal(hash.statuses[0]?.source, 'exchange');
    assert.equal(adviseNdr(hash).kind, 'unknownUser');
    assert.equal(parseNdr('#5.4.4 smtp;554 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain').statuses[0]?.code, '5.4.4');
  });

  it('the edges of our range: 5.7.606 and 5.7.649 are ours, 5.7.605 and 5.7.650 are not', () => {
    assert.equal(primary('550 5.7.606 x').kind, 'ourListing');
    assert.equal(primary('550 5.7.649 x').kind, 'ourListing');
    assert.notEqual(primary('550 5.7.605 x').kind, 'ourListing');
    assert.notEqual(primary('550 5.7.650 x').kind, 'ourListing');
    assert.equal(primary('451 4.7.650 The mail server [198.51.100.9] has been temporarily rate limited due to IP reputation.').kind, 'throttled');
  });

  it('our code wins over another one in the same report (two recipients)', () => {
    const a = primary('<a@x.example>: host mx.x.example[192.0.2.1] said: 550 5.1.1 unknown user\n<b@customer.example>: host mx1.customer.example[192.0.2.25] said: 550 5.7.606 Access denied, banned sending IP [198.51.100.23]');
    assert.equal(a.primary?.code, '5.7.606');
    assert.deepEqual(a.others.map((o) => [o.finding.code, o.kind]), [['5.1.1', 'unknownUser']]);
  });

  it('never reads the octets of an IP address, a version or a date as a status code', () => {
    assert.deepEqual(parseNdr('banned sending IP [40.107.5.7] via 10.4.5.5 with Exim 4.72 id 15.20.4.5 on 4.5.2026').statuses, []);
    assert.deepEqual(parseNdr('Microsoft SMTP Server id 14.2.222.2; 5.7.606.1').statuses, []);
    assert.equal(parseNdr('It failed with 5.1.1.').statuses[0]?.code, '5.1.1');
    assert.deepEqual(parseNdr('250 2.0.0 OK queued').statuses, []);
  });

  it('folds full-width digits (an IME) and reads a quoted-printable source', () => {
    assert.equal(primary('５５０ ５．７．６０６ Access denied, banned sending IP [１９８．５１．１００．２３]').ip, '198.51.100.23');
    const qp = primary('Content-Transfer-Encoding: quoted-printable\n\n550 5.7.606 Access denied, banned sending IP [198.51=\n.100.23] see https://x.example/?a=3Db');
    assert.equal(qp.ip, '198.51.100.23');
    assert.match(qp.primary!.text, /a=b$/);
  });

  it('names addresses: IPv4, IPv6 (also as an IPv6: literal), never a time or a hex id', () => {
    const r = parseNdr('550 5.7.1 from [IPv6:2001:db8::25] and 198.51.100.5 at 10:00:00 id deadbeef:cafe, ::1 not ours');
    assert.deepEqual(r.addresses, ['2001:db8::25', '198.51.100.5', '::1']);
    // ::1 is named, but never offered as the IP to delist (special purpose)
    assert.equal(adviseNdr(parseNdr('550 5.7.606 banned sending IP [127.0.0.1]')).ip, null);
  });

  it('a basic reply code alone still says permanent or temporary; nothing at all is `none`', () => {
    assert.equal(adviseNdr(parseNdr('host mx.example.org[192.0.2.1] said: 554 Transaction failed')).kind, 'generic');
    assert.equal(adviseNdr(parseNdr('said: 451 Try again later')).kind, 'temporary');
    assert.equal(adviseNdr(parseNdr('Hello, my mail bounced. Help!')).kind, 'none');
    assert.equal(adviseNdr(parseNdr('')).kind, 'none');
  });
});

describe('parseNdr: hostile input is bounded and never throws', () => {
  it('a 10 MB paste: only the first NDR_MAX_CHARS are read, and it says so', () => {
    const r = parseNdr(`550 5.7.606 Access denied, banned sending IP [198.51.100.23]\n${'x'.repeat(10 * 1024 * 1024)}`);
    assert.equal(r.truncated, true);
    assert.equal(r.statuses[0]?.code, '5.7.606');
    const late = parseNdr(`${'y'.repeat(NDR_MAX_CHARS)}\n550 5.1.1 too late`);
    assert.deepEqual(late.statuses, []);
  });

  it('a million lines, a million indented lines (one long unfolded line), a million multi-line reply lines', () => {
    assert.deepEqual(parseNdr('\n'.repeat(1_000_000)).statuses, []);
    const folded = parseNdr(`x 550 5.7.606 banned sending IP [198.51.100.23]\n${'    more text\n'.repeat(1_000_000)}`);
    assert.equal(folded.statuses[0]?.code, '5.7.606');
    assert.ok(folded.statuses[0]!.text.length <= 600);
    const multi = parseNdr('550-5.7.26 a\n'.repeat(1_000_000));
    assert.equal(multi.statuses.length, 1);
    assert.ok(multi.statuses[0]!.text.length <= 600);
  });

  it('inputs shaped against each pattern: runs of codes, dots, colons, hex, brackets, hosts, dashes', () => {
    const shapes = [
      '5.'.repeat(200_000),
      '5.5.5 '.repeat(100_000),
      '550-'.repeat(100_000),
      '1.1.1.1.'.repeat(50_000),
      ':'.repeat(300_000),
      'a:'.repeat(150_000),
      '[' .repeat(300_000),
      'host '.repeat(100_000),
      'host a.b'.repeat(50_000),
      `host ${'a'.repeat(300_000)}`,
      `Remote-MTA: dns; ${'a.'.repeat(150_000)}`,
      `From: ${'x'.repeat(300_000)}<mailer-daemon@`,
      `Remote Server at ${'h'.repeat(300_000)} (`,
      '#'.repeat(300_000),
      `${'-'.repeat(300_000)} original`,
      `550 5.7.606 [${'1'.repeat(300_000)}/24]`,
      `${' '.repeat(299_999)}x`,
      '\t\n'.repeat(150_000),
      `${'=\n'.repeat(150_000)}quoted-printable`,
      'Ｘ'.repeat(300_000),
      `550 5.7.606 ${'"'.repeat(300_000)}x`,
      `550 5.7.606 ${"'>".repeat(150_000)}`,
      `550${' '.repeat(300_000)}5.7.606`,
    ];
    for (const s of shapes) {
      const r = parseNdr(s);
      assert.ok(r.statuses.length <= 12 && r.addresses.length <= 20);
      for (const f of r.statuses) assert.ok(f.text.length <= 600);
      adviseNdr(r);
    }
  });

  it('any string: never throws, and every code it reports is a well-formed 4.x.x or 5.x.x', () => {
    const alphabet = fc.constantFrom(...'0123456789.:-#[]() \n\t;=<>abcdefhostASa5\'"'.split(''), '550 ', '5.7.606', '421-4.7.0', 'Status: ', 'Diagnostic-Code: smtp; ', 'host ', 'Remote-MTA: dns; ', '2001:db8::', '198.51.100.', 'IPv6:', 'quoted-printable', '----- Original message -----');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 300 }).map((a) => a.join('')), (text) => {
        const r = parseNdr(text);
        const a = adviseNdr(r);
        for (const f of r.statuses) assert.match(f.code, /^[45]\.\d{1,3}\.\d{1,3}$/);
        if (a.ip) assert.ok(r.statuses.some((f) => f.addresses.includes(a.ip!)));
      }),
      { numRuns: 2000 },
    );
  });
});
