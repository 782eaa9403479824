import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkDkim, dnsKeyResolver, policyKeyResolver, MAX_SIGNATURES } from '../../src/domain/dkim.js';
import { normaliseEmail, PUBLIC_MAIL_PROVIDERS, registrableDomain, reporterByTransport, reporterIdOf, tenantTrust, tenantVerdict, webReporter, type Partner } from '../../src/domain/report-trust.js';
import { locateOriginal, parseSample, sampleHashOf } from '../../src/domain/samples.js';
import { ParseBudgetError, ParsePool } from '../../src/parse/pool.js';
import { tenantOfReport } from '../../src/features/report/trust.js';
import { loadPolicy, policySchema, type Policy } from '../../src/policy.js';
import { makeKey, policyKey, SIGN_TIME, signed } from '../helpers/dkim.js';
import { messageFromTenant } from '../helpers/messages.js';

const base = loadPolicy();
const ours = makeKey('outbound.example.net', 'pm1');
const oursEd = makeKey('outbound.example.net', 'pm2', 'ed25519');
const network: Policy['network'] = { ...base.network, dkimKeys: [policyKey(ours), policyKey(oursEd)] };

const partner = (p: Partial<Partner> & { name: string }): Partner => ({ clientIps: [], dkimDomains: [], apiTokens: [], ...p });
const partners: Partner[] = [
  partner({ name: 'Alpha FBL', apiTokens: ['alpha'] }),
  partner({ name: 'Delta FBL', clientIps: ['192.0.2.0/28', '2001:db8:fb1::/48'] }),
  partner({ name: 'Zeta FBL', smtpAuth: { username: 'zeta-fbl', passwordHash: 'scrypt$x' } }),
];

/** What the worker decides about the tenant of a sample: parse it as intake does, find the original, check its DKIM. */
async function tenantOf(sample: string | Buffer, net: Policy['network'] = network) {
  const raw = Buffer.from(sample);
  return tenantOfReport({ ...base, network: net }, await parseSample(raw, net, base.samples), raw);
}

const msg = (tenant: string, id = '<t1@shop.example.com>') => messageFromTenant({ tenant, messageId: id });

function arf(original: string, encoding: '7bit' | 'base64' = '7bit'): string {
  const body = encoding === 'base64' ? Buffer.from(original).toString('base64').replace(/.{76}/g, '$&\r\n') : original;
  return [
    'From: fbl@isp.example.org', 'To: abuse@portal.example.net', 'Subject: FW: report', 'Message-ID: <r1@isp.example.org>', 'Date: Mon, 16 Nov 2026 10:05:00 +0000',
    'MIME-Version: 1.0', 'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'This is an abuse report.', '',
    '--b1', 'Content-Type: message/feedback-report', '', 'Feedback-Type: abuse', 'User-Agent: ISP-FBL/1.0', 'Version: 1', '',
    '--b1', 'Content-Type: message/rfc822', ...(encoding === 'base64' ? ['Content-Transfer-Encoding: base64'] : []), '', body, '--b1--', '',
  ].join('\r\n');
}

describe('reporter trust from the transport', () => {
  it('recognises a partner by SMTP AUTH user, API token name and client IP range, in that order', () => {
    assert.deepEqual(reporterByTransport(partners, { channel: 'smtp', clientIp: '198.51.100.9', smtpUser: 'zeta-fbl', mailFrom: '' }), { level: 'partner', partner: 'Zeta FBL', via: 'smtp-auth', detail: 'SMTP AUTH as zeta-fbl' });
    assert.deepEqual(reporterByTransport(partners, { channel: 'api', clientIp: '198.51.100.9', apiTokenName: 'alpha' }), { level: 'partner', partner: 'Alpha FBL', via: 'api-token', detail: 'API token alpha' });
    assert.deepEqual(reporterByTransport(partners, { channel: 'smtp', clientIp: '::ffff:192.0.2.5', mailFrom: 'fbl@delta.example' }), { level: 'partner', partner: 'Delta FBL', via: 'client-ip', detail: 'client IP 192.0.2.5 in 192.0.2.0/28' });
    assert.equal(reporterByTransport(partners, { channel: 'api', clientIp: '2001:db8:fb1::25', apiTokenName: 'routing' }).level, 'partner');
  });

  it('trusts nobody else, whatever the sample or the envelope says', () => {
    for (const origin of [
      { channel: 'smtp' as const, clientIp: '127.0.0.1', mailFrom: 'fbl@isp.example.org' },
      { channel: 'smtp' as const, clientIp: '192.0.2.16', mailFrom: 'Alpha FBL' },
      { channel: 'smtp' as const, clientIp: '198.51.100.9', smtpUser: 'someone-else' },
      { channel: 'api' as const, clientIp: '127.0.0.1', apiTokenName: 'routing' },
      { channel: 'api' as const, clientIp: 'not an ip', apiTokenName: 'Alpha FBL' },
      // A token name only counts on the API, an AUTH user only over SMTP.
      { channel: 'smtp' as const, clientIp: '198.51.100.9', apiTokenName: 'alpha' },
      { channel: 'api' as const, clientIp: '198.51.100.9', smtpUser: 'zeta-fbl' },
    ]) {
      const r = reporterByTransport(partners, origin);
      assert.equal(r.level, 'untrusted', JSON.stringify(origin));
      assert.equal(reporterIdOf(r), null);
    }
    assert.match((reporterByTransport(partners, { channel: 'smtp', clientIp: '127.0.0.1' }) as { detail: string }).detail, /SMTP without AUTH; client IP 127\.0\.0\.1 is in no partner's range/);
  });

  it('counts a confirmed web reporter once per person: case, +tags and Gmail dots do not make a new one', () => {
    assert.equal(webReporter('a@example.org', false).level, 'untrusted');
    const ids = ['Jane.Doe+spam@Gmail.com', 'janedoe@googlemail.com', 'j.a.n.e.doe@gmail.com'].map((e) => reporterIdOf(webReporter(e, true)));
    assert.deepEqual(new Set(ids), new Set(['web:janedoe@gmail.com']));
    assert.equal(normaliseEmail('Jane.Doe+x@Example.org'), 'jane.doe@example.org');
    assert.equal(reporterIdOf({ level: 'partner', partner: 'Alpha FBL', via: 'api-token', detail: '' }), 'partner:Alpha FBL');
  });
});

describe('tenant trust from our outbound DKIM signature', () => {
  it('trusts the tenant of a message our key signed over the tenant header (RSA and ed25519)', async () => {
    assert.deepEqual(await tenantOf(await signed(msg('acme'), ours)), { level: 'verified', tenant: 'acme', domain: 'outbound.example.net', selector: 'pm1' });
    assert.deepEqual(await tenantOf(await signed(msg('acme'), oursEd)), { level: 'verified', tenant: 'acme', domain: 'outbound.example.net', selector: 'pm2' });
  });

  it('finds the signed original inside an ARF report, plain or base64-encoded', async () => {
    const original = await signed(msg('acme'), ours);
    assert.equal((await tenantOf(arf(original))).level, 'verified');
    assert.equal((await tenantOf(arf(original, 'base64'))).level, 'verified');
  });

  it('does not trust a claimed tenant without a signature, or without keys configured', async () => {
    assert.deepEqual(await tenantOf(msg('victim')), { level: 'claimed', tenant: 'victim', detail: 'the original carries no DKIM signature' });
    assert.match(((await tenantOf(await signed(msg('acme'), ours), { ...network, dkimKeys: [] })) as { detail: string }).detail, /no outbound DKIM keys are configured/);
  });

  it('does not trust a signature that does not cover the tenant header', async () => {
    const t = await tenantOf(await signed(msg('acme'), ours, ['from', 'to', 'subject', 'date', 'message-id']));
    assert.deepEqual(t, { level: 'claimed', tenant: 'acme', detail: 'our signature s=pm1 d=outbound.example.net verifies but does not cover X-Tenant-Id' });
  });

  it('does not trust a signature made by another key, under our name or another domain', async () => {
    const impostor = makeKey('outbound.example.net', 'pm1');
    assert.match(((await tenantOf(await signed(msg('victim'), impostor))) as { detail: string }).detail, /our signature s=pm1 d=outbound\.example\.net did not verify \(bad signature\)/);
    const elsewhere = makeKey('attacker.example', 'x');
    assert.deepEqual(await tenantOf(await signed(msg('victim'), elsewhere)), { level: 'claimed', tenant: 'victim', detail: 'no signature by our keys (only d=attacker.example s=x)' });
  });

  it('does not trust a tampered tenant header, nor a second one written above the signed one', async () => {
    const genuine = await signed(msg('attacker-tenant'), ours);
    const tampered = genuine.replace('X-Tenant-Id: attacker-tenant', 'X-Tenant-Id: victim');
    assert.match(((await tenantOf(tampered)) as { detail: string }).detail, /did not verify/);
    const stacked = genuine.replace('Received: from mx.recipient', 'X-Tenant-Id: victim\r\nReceived: from mx.recipient');
    const t = await tenantOf(stacked);
    assert.deepEqual(t, { level: 'claimed', tenant: 'victim', detail: 'X-Tenant-Id appears 2 times; our signature s=pm1 d=outbound.example.net covers 1' });
  });

  it('does not trust a signature over part of the body (l=) or made with rsa-sha1', async () => {
    const { dkimSign } = await import('mailauth/lib/dkim/sign.js');
    const sign = async (extra: Record<string, unknown>) => {
      const m = msg('acme');
      const { signatures } = await dkimSign(m, { ...SIGN_TIME, canonicalization: 'relaxed/relaxed', headerList: 'from:x-tenant-id', signatureData: [{ signingDomain: ours.domain, selector: ours.selector, privateKey: ours.privateKey, ...extra }] });
      return signatures + m;
    };
    assert.match(((await tenantOf(await sign({ maxBodyLength: 10 }))) as { detail: string }).detail, /covers only part of the body \(l=\)/);
    assert.match(((await tenantOf(await sign({ algorithm: 'rsa-sha1' }))) as { detail: string }).detail, /uses rsa-sha1/);
  });

  it('does not check a message with more signature fields than the bound, and asks no key for it', async () => {
    let asked = 0;
    const counting = async (name: string, type: string) => {
      asked++;
      return policyKeyResolver(network.dkimKeys)(name, type);
    };
    let m = await signed(msg('acme'), ours);
    for (let i = 0; i < MAX_SIGNATURES; i++) m = `DKIM-Signature: v=1; a=rsa-sha256; d=x${i}.example; s=s; h=from; bh=AA==; b=AA==\r\n${m}`;
    const check = await checkDkim(Buffer.from(m), counting);
    assert.deepEqual(check, { checked: false, reason: `${MAX_SIGNATURES + 1} signature fields (more than ${MAX_SIGNATURES})` });
    assert.equal(asked, 0);
  });
});

describe('key lookups', () => {
  it('verifies nothing when no signature claims a key we check (so a stranger\'s signatures cost no hashing)', async () => {
    let asked = 0;
    const counting = async (name: string, type: string) => {
      asked++;
      return policyKeyResolver(network.dkimKeys)(name, type);
    };
    const stranger = makeKey('attacker.example', 'x');
    const check = await checkDkim(Buffer.from(await signed(msg('victim'), stranger)), counting, (d) => d === 'outbound.example.net');
    assert.ok(check.checked);
    assert.deepEqual(check.signatures.map((s) => [s.domain, s.selector, s.result]), [['attacker.example', 'x', 'not checked']]);
    assert.equal(asked, 0);
  });

  it('answers our keys from the policy and nothing else; DNS only for partner domains', async () => {
    const resolve = policyKeyResolver(network.dkimKeys);
    assert.match((await resolve('PM1._domainkey.outbound.example.net', 'TXT'))[0]![0]!, /^v=DKIM1; p=/);
    await assert.rejects(resolve('pm1._domainkey.attacker.example', 'TXT'), { code: 'ENOTFOUND' });
    const asked: string[] = [];
    const dns = dnsKeyResolver(['fbl.partner.example'], async (name) => {
      asked.push(name);
      return [['v=DKIM1; p=AAAA']];
    });
    await dns('s1._domainkey.fbl.partner.example', 'TXT');
    await assert.rejects(dns('s1._domainkey.attacker.example', 'TXT'), { code: 'ENOTFOUND' });
    await assert.rejects(dns('s1._domainkey.fbl.partner.example.attacker.example', 'TXT'), { code: 'ENOTFOUND' });
    assert.deepEqual(asked, ['s1._domainkey.fbl.partner.example']);
  });

  it('refuses a policy with a partner range or an outbound key that does not parse', () => {
    const bad = { ...structuredClone(base), partners: [{ name: 'P', clientIps: ['192.0.2.1/24'] }], network: { ...base.network, dkimKeys: [{ domain: 'd.example', selector: 's', publicKey: 'bm90IGEga2V5IGF0IGFsbA==' }] } };
    const result = policySchema.safeParse(bad);
    assert.equal(result.success, false);
    const paths = result.error!.issues.map((i) => i.path.join('.'));
    assert.ok(paths.includes('partners.0.clientIps.0') && paths.includes('network.dkimKeys.0.publicKey'), paths.join(', '));
    const good = { ...structuredClone(base), partners: [{ name: 'P', clientIps: ['192.0.2.0/24'] }], network: { ...base.network, dkimKeys: [policyKey(ours), policyKey(oursEd)] } };
    assert.equal(policySchema.safeParse(good).success, true);
  });
});

describe('who counts as one web reporter (issue 13, outside review)', () => {
  const idOf = (email: string, providers?: readonly string[]) => reporterIdOf(webReporter(email, true), providers);

  it('counts every address of one domain (and its subdomains) as one reporter', () => {
    const ids = ['pre1@attacker.example', 'pre2@attacker.example', 'Pre3+x@Attacker.Example', 'pre4@mx.attacker.example', 'pre5@a.b.attacker.example'].map((e) => idOf(e));
    assert.deepEqual(new Set(ids), new Set(['web-domain:attacker.example']));
    assert.equal(idOf('jane@mail.example.co.uk'), 'web-domain:example.co.uk');
    assert.equal(idOf('joe@shop.example.com.au'), 'web-domain:example.com.au');
    assert.notEqual(idOf('a@one.example'), idOf('a@two.example'));
    assert.equal(registrableDomain('Example.ORG.'), 'example.org');
    assert.equal(registrableDomain('x.y.example.de'), 'example.de');
  });

  it('counts each mailbox of a large public provider, normalised', () => {
    const ids = ['alice@gmail.com', 'bob@gmail.com', 'carol@outlook.com', 'dave@yahoo.com', 'erin@proton.me'].map((e) => idOf(e));
    assert.equal(new Set(ids).size, 5);
    assert.equal(idOf('Al.Ice+spam@GoogleMail.com'), 'web:alice@gmail.com');
    assert.equal(idOf('Bob+1@Outlook.com'), 'web:bob@outlook.com');
  });

  it('takes the provider list from the policy (same default as the code)', () => {
    assert.deepEqual(base.abuse.publicMailProviders, [...PUBLIC_MAIL_PROVIDERS]);
    assert.equal(idOf('pre1@attacker.example', ['attacker.example']), 'web:pre1@attacker.example');
    assert.equal(idOf('alice@gmail.com', []), 'web-domain:gmail.com');
    const custom = policySchema.parse({ ...structuredClone(base), abuse: { ...base.abuse, publicMailProviders: ['Mail.Example.'] } });
    assert.deepEqual(custom.abuse.publicMailProviders, ['mail.example']);
  });
});

describe('the identity of a reported message (issue 13, outside review)', () => {
  const verdictOf = async (sample: string) => {
    const raw = Buffer.from(sample);
    const original = locateOriginal(raw, network, base.samples)!;
    const check = await checkDkim(original, policyKeyResolver(network.dkimKeys));
    return tenantVerdict(network, (await parseSample(raw, network, base.samples)).tenant, check);
  };

  it('is what our signature signed, whatever unsigned field is added: the same genuine message replayed has one identity', async () => {
    const genuine = await signed(msg('acme', '<ID-1@shop.example.com>'), ours);
    const first = await verdictOf(genuine);
    assert.equal(first.tenant.level, 'verified');
    assert.equal(first.identity, 'signed-mid:<id-1@shop.example.com>');
    const replayed = await verdictOf(`X-Replay: 2\r\nReceived: from relay.attacker.example by mx.attacker.example; Mon, 16 Nov 2026 10:00:09 +0000\r\n${genuine}`);
    assert.equal(replayed.tenant.level, 'verified');
    assert.equal(replayed.identity, first.identity);
    // Relaxed canonicalization lets anyone change whitespace in the signed field: still one identity.
    const respaced = await verdictOf(genuine.replace('Message-ID: <ID-1@shop.example.com>', 'Message-ID:   \r\n\t<ID-1@shop.example.com>  '));
    assert.equal(respaced.tenant.level, 'verified');
    assert.equal(respaced.identity, first.identity);
    assert.equal((await verdictOf(arf(genuine, 'base64'))).identity, first.identity, 'inside a report too');
    assert.notEqual((await verdictOf(await signed(msg('acme', '<id-2@shop.example.com>'), ours))).identity, first.identity);
    // A signature that covers no Message-ID: the message is known by the signature itself (its b= value).
    const noId = await signed(msg('acme', '<id-3@shop.example.com>'), ours, ['from', 'subject', 'date', 'x-tenant-id']);
    const bySignature = await verdictOf(noId);
    assert.match(bySignature.identity!, /^dkim:[0-9a-f]{64}$/);
    assert.equal((await verdictOf(noId.replace('Message-ID: <id-3@shop.example.com>', 'Message-ID: <replay@attacker.example>'))).identity, bySignature.identity);
  });

  it('treats a message with a second Message-ID or From as tampered, though our signature still verifies', async () => {
    const genuine = await signed(msg('acme', '<id-3@shop.example.com>'), ours);
    for (const [field, added] of [['Message-ID', 'Message-ID: <replay-1@attacker.example>'], ['From', 'From: someone@else.example']] as const) {
      const v = await verdictOf(`${added}\r\n${genuine}`);
      assert.deepEqual(v.tenant, { level: 'claimed', tenant: 'acme', detail: `our signature s=pm1 d=outbound.example.net verifies, but the message has 2 ${field} fields: treated as tampered` });
      assert.equal(v.identity, null);
    }
    // Since issue 15 the summary takes the lowest Message-ID (the genuine one, below what the attacker added); the
    // trust decision above still treats the message as tampered.
    assert.equal((await parseSample(Buffer.from(`Message-ID: <replay-1@attacker.example>\r\n${genuine}`), network, base.samples)).messageId, '<id-3@shop.example.com>');
  });
});

describe('finding the original and checking DKIM without blocking (issue 13, outside review)', () => {
  /** The reviewer's sample: a forward whose message/rfc822 part is followed by a text part of `mb` MB of newlines. */
  const hostileForward = (inner: string, mb: number) =>
    Buffer.from(['From: a@b.example', 'Subject: fw', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: message/rfc822', '', inner, '--b', 'Content-Type: text/plain', '', '\n'.repeat(mb * 1024 * 1024), '--b--', ''].join('\r\n'));

  it('finds the original by the bounded scan: the very bytes the summary hashed, in a forward, a report, or a plain message', async () => {
    const inner = await signed(msg('acme', '<fw-1@shop.example.com>'), ours);
    for (const sample of [hostileForward(inner, 1), Buffer.from(arf(inner)), Buffer.from(arf(inner, 'base64')), Buffer.from(`\r\n${inner}`)]) {
      const original = locateOriginal(sample, network, base.samples);
      assert.ok(original);
      assert.equal(sampleHashOf(original), (await parseSample(sample, network, base.samples)).sampleHash);
    }
    assert.equal(locateOriginal(Buffer.from('not a message'), network, base.samples), null);
    assert.equal((await tenantOf(hostileForward(inner, 1))).level, 'verified');
  });

  it('verifies on the parser pool: keys are asked of this side, and the time spent waiting for one is not counted', async () => {
    const pool = new ParsePool({ size: 1, maxQueue: 2, maxHeapMb: 256 });
    try {
      const asked: string[] = [];
      const slowKey = async (name: string, type: string) => {
        asked.push(name);
        await new Promise((r) => setTimeout(r, 600));
        return policyKeyResolver(network.dkimKeys)(name, type);
      };
      const raw = Buffer.from(await signed(msg('acme'), ours));
      const check = await pool.verifyDkim({ raw, target: { kind: 'message' }, wanted: [{ domain: 'outbound.example.net', selector: 'pm1' }] }, slowKey, 300);
      assert.ok(check?.checked);
      assert.equal(check.signatures[0]?.result, 'pass');
      assert.deepEqual(asked, ['pm1._domainkey.outbound.example.net']);
      // A target of "the original" that does not match the summary's hash is not checked at all.
      assert.equal(await pool.verifyDkim({ raw, target: { kind: 'original', network, limits: base.samples, sampleHash: 'f'.repeat(64) }, wanted: [] }, slowKey, 5000), null);
    } finally {
      await pool.close();
    }
  });

  it('ends a DKIM check over its budget (ParseBudgetError) and reads it as not verified', async () => {
    const bomb = msg('acme').replace('Received:', 'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=outbound.example.net; s=pm1; h=from:x-tenant-id; bh=AAAA; b=AAAA\r\nReceived:').replace(/\r\n\r\n[\s\S]*$/, `\r\n\r\n${' \r\n'.repeat(3_000_000)}`);
    const pool = new ParsePool({ size: 1, maxQueue: 2, maxHeapMb: 256 });
    try {
      await assert.rejects(pool.verifyDkim({ raw: Buffer.from(bomb), target: { kind: 'message' }, wanted: [{ domain: 'outbound.example.net', selector: null }] }, policyKeyResolver(network.dkimKeys), 200), ParseBudgetError);
      assert.equal(pool.threads, 0, 'the thread over its budget was ended');
    } finally {
      await pool.close();
    }
    const t = await tenantOfReport({ ...base, network, samples: { ...base.samples, parseBudgetMs: 200 } }, await parseSample(Buffer.from(bomb), network, base.samples), Buffer.from(bomb));
    assert.match((t as { detail: string }).detail, /its DKIM was not checked \(verifying took more than the budget of 200 ms/);
  });

  it('does not verify a report body over the bound, and asks no key for it', async () => {
    let asked = 0;
    const counting = async (name: string, type: string) => {
      asked++;
      return policyKeyResolver(network.dkimKeys)(name, type);
    };
    const raw = Buffer.from(await signed(messageFromTenant({ tenant: 'acme', messageId: '<big@shop.example.com>', bodyBytes: 300 * 1024 }), ours));
    assert.deepEqual(await checkDkim(raw, counting, () => true, { maxBodyBytes: 256 * 1024 }), { checked: false, reason: 'body of 300 KB, larger than the 256 KB we verify' });
    assert.equal(asked, 0);
    assert.equal((await checkDkim(raw, counting, () => true, { maxBodyBytes: 512 * 1024 })).checked, true);
    assert.equal(base.samples.maxPartnerDkimBodyBytes, 1024 * 1024);
  });
});
