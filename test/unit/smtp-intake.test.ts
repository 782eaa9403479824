import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';
import { DEFAULT_POLICY_FILE, policySchema } from '../../src/policy.js';
import { authAllowed } from '../../src/smtp/intake.js';
import { clientKey, ConnectionCounter, FailureWindow, isLoopback } from '../../src/smtp/limits.js';
import { makeCertificate } from '../helpers/smtp-client.js';

describe('SMTP intake: who counts as one client', () => {
  it('keys IPv4 by address, IPv6 by /64, and an IPv4-mapped address as IPv4', () => {
    assert.equal(clientKey('198.51.100.7'), '198.51.100.7');
    assert.equal(clientKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(clientKey('2001:db8:1:2:bbbb::9'), clientKey('2001:db8:1:2:aaaa::1'));
    assert.notEqual(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'));
    assert.equal(clientKey('::ffff:198.51.100.7'), '198.51.100.7');
  });

  it('knows loopback peers', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal(isLoopback(a), true, a);
    for (const a of ['198.51.100.7', '2001:db8::1', '10.0.0.1', 'not an ip']) assert.equal(isLoopback(a), false, a);
  });
});

describe('SMTP intake: where AUTH may be used', () => {
  it('with a certificate: only inside TLS, loopback or not', () => {
    assert.equal(authAllowed({ tlsConfigured: true, secure: false, remoteAddress: '127.0.0.1' }), false);
    assert.equal(authAllowed({ tlsConfigured: true, secure: false, remoteAddress: '198.51.100.7' }), false);
    assert.equal(authAllowed({ tlsConfigured: true, secure: true, remoteAddress: '198.51.100.7' }), true);
  });

  it('without a certificate: loopback peers only, never a password in the clear over a network', () => {
    assert.equal(authAllowed({ tlsConfigured: false, secure: false, remoteAddress: '127.0.0.1' }), true);
    assert.equal(authAllowed({ tlsConfigured: false, secure: false, remoteAddress: '::1' }), true);
    assert.equal(authAllowed({ tlsConfigured: false, secure: false, remoteAddress: '198.51.100.7' }), false);
    assert.equal(authAllowed({ tlsConfigured: false, secure: false, remoteAddress: '2001:db8::1' }), false);
  });
});

describe('SMTP intake: counters', () => {
  it('ConnectionCounter gives at most max slots per key and takes them back', () => {
    const c = new ConnectionCounter();
    assert.equal(c.take('a', 2), true);
    assert.equal(c.take('a', 2), true);
    assert.equal(c.take('a', 2), false);
    assert.equal(c.take('b', 2), true);
    c.release('a');
    assert.equal(c.take('a', 2), true);
    c.release('b');
    assert.equal(c.count('b'), 0);
  });

  it('FailureWindow blocks at max failures until the window ends', () => {
    const w = new FailureWindow(2, 60_000);
    const t = 1_000_000;
    assert.equal(w.blocked('ip', t), false);
    w.record('ip', t);
    assert.equal(w.blocked('ip', t + 1), false);
    w.record('ip', t + 2);
    assert.equal(w.blocked('ip', t + 3), true);
    assert.equal(w.blocked('other', t + 3), false);
    assert.equal(w.blocked('ip', t + 60_001), false);
  });

  it('FailureWindow remembers a bounded number of clients', () => {
    const w = new FailureWindow(1, 60_000, 100);
    for (let i = 0; i < 1000; i++) w.record(`ip${i}`, 1);
    assert.equal(w.blocked('ip999', 2), true);
    assert.equal(w.blocked('ip0', 2), false, 'the oldest were dropped');
  });
});

describe('SMTP intake: STARTTLS configuration (ABUSE_SMTP_TLS_KEY / ABUSE_SMTP_TLS_CERT)', () => {
  let cert: ReturnType<typeof makeCertificate>;
  let other: ReturnType<typeof makeCertificate>;
  before(() => {
    cert = makeCertificate();
    other = makeCertificate();
  });
  after(() => {
    rmSync(cert.dir, { recursive: true, force: true });
    rmSync(other.dir, { recursive: true, force: true });
  });
  const refused = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.message;
    }
    return assert.fail('expected a ConfigError');
  };

  it('neither: no TLS; both: the PEM texts, read at start', () => {
    assert.equal(loadConfig({}).abuseSmtpTls, undefined);
    const c = loadConfig({ ABUSE_SMTP_TLS_KEY: cert.keyFile, ABUSE_SMTP_TLS_CERT: cert.certFile });
    assert.equal(c.abuseSmtpTls?.cert, cert.cert);
    assert.match(c.abuseSmtpTls!.key, /PRIVATE KEY/);
  });

  it('refuses one without the other, an unreadable file and a key that does not fit the certificate, a line per key', () => {
    assert.match(refused({ ABUSE_SMTP_TLS_KEY: cert.keyFile }), /ABUSE_SMTP_TLS_CERT: is required/);
    assert.match(refused({ ABUSE_SMTP_TLS_CERT: cert.certFile }), /ABUSE_SMTP_TLS_KEY: is required/);
    const missing = refused({ ABUSE_SMTP_TLS_KEY: path.join(cert.dir, 'nope.pem'), ABUSE_SMTP_TLS_CERT: path.join(cert.dir, 'nope2.pem') });
    assert.match(missing, /ABUSE_SMTP_TLS_KEY: cannot read .*ENOENT/);
    assert.match(missing, /ABUSE_SMTP_TLS_CERT: cannot read .*ENOENT/);
    assert.match(refused({ ABUSE_SMTP_TLS_KEY: other.keyFile, ABUSE_SMTP_TLS_CERT: cert.certFile }), /ABUSE_SMTP_TLS_CERT: .*not a usable PEM key pair/);
    const junk = path.join(cert.dir, 'junk.pem');
    writeFileSync(junk, 'not a pem');
    assert.match(refused({ ABUSE_SMTP_TLS_KEY: junk, ABUSE_SMTP_TLS_CERT: cert.certFile }), /not a usable PEM key pair/);
  });
});

describe('SMTP intake: policy abuse.smtp', () => {
  const shipped = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as { abuse: Record<string, unknown> };

  it('a policy file without abuse.smtp still validates, with the defaults', () => {
    const copy = structuredClone(shipped);
    delete copy.abuse.smtp;
    const parsed = policySchema.parse(copy);
    assert.deepEqual(parsed.abuse.smtp, { maxClients: 50, maxConnectionsPerIp: 5, idleTimeoutSeconds: 60, sessionSeconds: 300, maxRecipients: 10, maxConcurrentMessages: 10, authFailuresPerIp: { max: 5, windowMinutes: 15 }, messagesPerIpPerHour: 30, bytesPerIpPerHour: 50 * 1024 * 1024, reservedForPartners: 10 });
  });

  it('keeps at least one connection for clients that are no partner: reservedForPartners below maxClients', () => {
    const copy = structuredClone(shipped);
    copy.abuse.smtp = { maxClients: 10, reservedForPartners: 10 };
    const result = policySchema.safeParse(copy);
    assert.equal(result.success, false);
    assert.deepEqual(result.error!.issues[0]!.path, ['abuse', 'smtp', 'reservedForPartners']);
    copy.abuse.smtp = { maxClients: 10, reservedForPartners: 9 };
    assert.equal(policySchema.parse(copy).abuse.smtp.reservedForPartners, 9);
    copy.abuse.smtp = { messagesPerIpPerHour: 0 };
    assert.equal(policySchema.safeParse(copy).success, false);
  });

  it('a partial abuse.smtp keeps the other defaults; nonsense is refused', () => {
    const copy = structuredClone(shipped);
    copy.abuse.smtp = { maxRecipients: 3 };
    const parsed = policySchema.parse(copy);
    assert.equal(parsed.abuse.smtp.maxRecipients, 3);
    assert.equal(parsed.abuse.smtp.sessionSeconds, 300);
    copy.abuse.smtp = { maxConnectionsPerIp: 0 };
    assert.equal(policySchema.safeParse(copy).success, false);
    copy.abuse.smtp = { sessionSeconds: 'forever' };
    assert.equal(policySchema.safeParse(copy).success, false);
  });
});
