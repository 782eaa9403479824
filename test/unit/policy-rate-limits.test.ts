import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_POLICY_FILE, loadPolicy, PolicyError } from '../../src/policy.js';

/** The rate limits added with issue 13 (challenge mails, /status): an older policy file without them still loads. */
const ADDED = ['statusPerClientIp', 'unblockPerEmail', 'reportDraftPerEmail', 'challengePerRecipient', 'challengePerRecipientDomain'] as const;

function withPolicy<T>(edit: (p: { rateLimits: Record<string, unknown> }) => void, run: (file: string) => T): T {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pm-policy-'));
  try {
    const raw = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as { rateLimits: Record<string, unknown> };
    edit(raw);
    const file = path.join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify(raw));
    return run(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the challenge-mail and status rate limits in the policy', () => {
  it('ship in src/policy.json with the documented defaults', () => {
    const limits = loadPolicy().rateLimits;
    assert.deepEqual(limits.statusPerClientIp, { max: 120, windowMinutes: 1 });
    assert.deepEqual(limits.unblockPerEmail, { max: 5, windowMinutes: 60 });
    assert.deepEqual(limits.reportDraftPerEmail, { max: 10, windowMinutes: 60 });
    assert.deepEqual(limits.challengePerRecipient, { max: 10, windowMinutes: 60 });
    assert.deepEqual(limits.challengePerRecipientDomain, { max: 100, windowMinutes: 60 });
  });

  it('take the same defaults when an older policy file does not name them', () => {
    const shipped = loadPolicy().rateLimits;
    const older = withPolicy((p) => ADDED.forEach((k) => delete p.rateLimits[k]), (file) => loadPolicy(file).rateLimits);
    for (const k of ADDED) assert.deepEqual(older[k], shipped[k], k);
  });

  it('refuse a malformed value, naming the key', () => {
    assert.throws(
      () => withPolicy((p) => (p.rateLimits.challengePerRecipient = { max: 0, windowMinutes: 60 }), (file) => loadPolicy(file)),
      (err: unknown) => err instanceof PolicyError && /rateLimits\.challengePerRecipient\.max/.test(err.message),
    );
  });
});
