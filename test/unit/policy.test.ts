import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_POLICY_FILE, PolicyError, loadPolicy, policySchema } from '../../src/policy.js';

/** Asserts that fn throws a PolicyError and returns it. */
function refused(fn: () => unknown): PolicyError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PolicyError, `expected PolicyError, got ${String(err)}`);
    assert.equal(err.code, 'POLICY_INVALID');
    return err;
  }
  assert.fail('expected a PolicyError but nothing was thrown');
}

describe('the shipped policy file', () => {
  const policy = loadPolicy();

  it('is src/policy.json and is valid against the schema', () => {
    assert.equal(path.basename(DEFAULT_POLICY_FILE), 'policy.json');
    const raw: unknown = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
    assert.equal(policySchema.safeParse(raw).success, true);
    assert.deepEqual(loadPolicy(DEFAULT_POLICY_FILE), policy);
  });

  it('makes challenge links valid for 60 minutes with a 60 s resend cooldown', () => {
    assert.equal(policy.challenge.ttlMinutes, 60);
    assert.equal(policy.challenge.resendCooldownSeconds, 60);
  });

  it('allows 3 self-delists per IP per 30 days', () => {
    assert.deepEqual(policy.selfDelist, { maxPerWindow: 3, windowDays: 30 });
  });

  it('starts relisting at 1 day', () => {
    assert.equal(policy.relist.baseDays, 1);
  });

  it('lets spam-source and backscatter be self-removed but not botnet, malware, snowshoe or manual', () => {
    const removable = Object.fromEntries(Object.entries(policy.categories).map(([name, c]) => [name, c.selfRemovable]));
    assert.deepEqual(removable, {
      'spam-source': true,
      backscatter: true,
      botnet: false,
      malware: false,
      snowshoe: false,
      manual: false,
    });
  });

  it('answers 127.0.0.2 for spam-source and a distinct 127.0.0.x for every category', () => {
    assert.equal(policy.categories['spam-source']?.dnsblAnswer, '127.0.0.2');
    const answers = Object.values(policy.categories).map((c) => c.dnsblAnswer);
    assert.equal(new Set(answers).size, answers.length);
    for (const a of answers) assert.match(a, /^127\.0\.0\.\d{1,3}$/);
  });

  it('defines outbound pools normal 203.0.113.0/26 + 2001:db8:25::/48, high-risk 203.0.113.64/26 and relay 203.0.113.128/26', () => {
    assert.deepEqual(policy.network.pools, {
      normal: ['203.0.113.0/26', '2001:db8:25::/48'],
      'high-risk': ['203.0.113.64/26'],
      relay: ['203.0.113.128/26'],
    });
  });

  it('reads the tenant from X-Tenant-Id and names our hosts *.outbound.example.net', () => {
    assert.equal(policy.network.tenantHeader, 'X-Tenant-Id');
    assert.equal(policy.network.hostSuffix, '.outbound.example.net');
  });

  it('needs the admin role for block entries wider than /16 (IPv4) or /32 (IPv6)', () => {
    assert.deepEqual(policy.blockWidth, { ipv4MinPrefixWithoutAdmin: 16, ipv6MinPrefixWithoutAdmin: 32 });
  });

  it('escalates at 5 distinct reports in 24 h for 72 h and opens a critical ticket at 25', () => {
    const { smtp, ...abuse } = policy.abuse;
    const { publicMailProviders, feedbackWeights, ...rest } = abuse;
    assert.deepEqual(rest, { windowHours: 24, highRiskThreshold: 5, highRiskHours: 72, criticalThreshold: 25, intakeRecipients: ['abuse@portal.example.net', 'fbl@portal.example.net'] });
    assert.ok(publicMailProviders.includes('gmail.com') && publicMailProviders.length === 19, 'web reporters count per mailbox only at these providers (issue 13 review)');
    assert.deepEqual(Object.keys(feedbackWeights).filter((t) => feedbackWeights[t] === 0).sort(), ['auth-failure', 'not-spam', 'opt-out', 'other'], 'only abuse-like types move a pool (issue 15)');
    assert.deepEqual(smtp, { maxClients: 50, maxConnectionsPerIp: 5, idleTimeoutSeconds: 60, sessionSeconds: 300, maxRecipients: 10, maxConcurrentMessages: 10, authFailuresPerIp: { max: 5, windowMinutes: 15 }, messagesPerIpPerHour: 30, bytesPerIpPerHour: 52428800, reservedForPartners: 10 });
  });

  it('accepts samples up to 10 MB and MIME depth 10, bounds what it parses and gives each parse 2 s', () => {
    assert.deepEqual(policy.samples, {
      maxBytes: 10 * 1024 * 1024,
      maxMimeDepth: 10,
      maxHeaderBytes: 2 * 1024 * 1024,
      maxHeaderFields: 20000,
      maxLineLength: 65536,
      maxAddressesPerField: 100,
      maxMimeParts: 5000,
      maxNestedMessages: 50,
      parseBudgetMs: 2000,
      maxPartnerDkimBodyBytes: 1024 * 1024,
      retentionDays: 180,
    });
  });

  it('gives an older samples section (maxBytes and maxMimeDepth only) the same bounds by default', () => {
    const raw = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as Record<string, any>;
    const older = policySchema.parse({ ...raw, samples: { maxBytes: raw.samples.maxBytes, maxMimeDepth: raw.samples.maxMimeDepth } });
    assert.deepEqual(older.samples, policy.samples);
  });
});

describe('loadPolicy with a bad file', () => {
  let dir = '';
  const shipped = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as Record<string, any>;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'pm-policy-test-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a copy of the shipped policy, changed by `edit`, and returns its path. */
  function writePolicy(name: string, edit: (p: Record<string, any>) => void): string {
    const copy = structuredClone(shipped);
    edit(copy);
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(copy));
    return file;
  }

  it('accepts an unchanged copy written elsewhere', () => {
    const file = writePolicy('same.json', () => {});
    assert.equal(loadPolicy(file).selfDelist.maxPerWindow, 3);
  });

  it('loads changed values from the given file', () => {
    const file = writePolicy('changed.json', (p) => {
      p.selfDelist.maxPerWindow = 5;
    });
    assert.equal(loadPolicy(file).selfDelist.maxPerWindow, 5);
  });

  it('refuses a challenge ttl of 0 and names challenge.ttlMinutes and the file', () => {
    const file = writePolicy('ttl.json', (p) => {
      p.challenge.ttlMinutes = 0;
    });
    const err = refused(() => loadPolicy(file));
    assert.match(err.message, /challenge\.ttlMinutes:/);
    assert.ok(err.message.includes(file), err.message);
  });

  it('refuses a number written as a string and names the nested key path', () => {
    const file = writePolicy('string.json', (p) => {
      p.rateLimits.lookupPerClientIp.max = '60';
    });
    assert.match(refused(() => loadPolicy(file)).message, /rateLimits\.lookupPerClientIp\.max:/);
  });

  it('refuses a bad DNSBL answer and names the category in the key path', () => {
    const file = writePolicy('dnsbl.json', (p) => {
      p.categories.botnet.dnsblAnswer = '10.0.0.4';
    });
    assert.match(refused(() => loadPolicy(file)).message, /categories\.botnet\.dnsblAnswer:/);
  });

  it('refuses a missing section and names it', () => {
    const file = writePolicy('missing.json', (p) => {
      delete p.selfDelist;
    });
    assert.match(refused(() => loadPolicy(file)).message, /^\s+selfDelist:/m);
  });

  it('names every bad key, not only the first', () => {
    const file = writePolicy('several.json', (p) => {
      p.challenge.ttlMinutes = -1;
      p.selfDelist.windowDays = 0;
      p.network.tenantHeader = '';
    });
    const message = refused(() => loadPolicy(file)).message;
    assert.match(message, /challenge\.ttlMinutes:/);
    assert.match(message, /selfDelist\.windowDays:/);
    assert.match(message, /network\.tenantHeader:/);
  });

  it('refuses a file that does not exist, naming the file', () => {
    const file = path.join(dir, 'does-not-exist.json');
    const err = refused(() => loadPolicy(file));
    assert.match(err.message, /^Cannot read policy file /);
    assert.ok(err.message.includes(file), err.message);
    assert.match(err.message, /ENOENT|no such file/);
  });

  it('refuses a directory in place of the file', () => {
    assert.match(refused(() => loadPolicy(dir)).message, /^Cannot read policy file /);
  });

  it('refuses a file that is not JSON', () => {
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "challenge": ');
    const err = refused(() => loadPolicy(file));
    assert.match(err.message, /^Cannot read policy file /);
    assert.ok(err.message.includes(file));
  });
});
