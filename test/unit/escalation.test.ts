import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { escalate } from '../../src/domain/escalation.js';
import type { PoolAssignment } from '../../src/domain/pools.js';
import { loadPolicy } from '../../src/policy.js';

const policy = loadPolicy();
const NOW = new Date('2026-11-16T10:00:00Z');
const assigned = (pool: PoolAssignment['pool'], expiresAt: string | null): PoolAssignment => ({ kind: 'tenant', key: 'acme', pool, reason: 't', source: 't', assignedAt: '2026-11-16T00:00:00Z', expiresAt });
const trusted = (n: number, untrusted = 0) => ({ trusted: n, untrusted });

describe('escalate', () => {
  it('does nothing below the high-risk threshold', () => {
    assert.deepEqual(escalate(policy, trusted(4), null, false, NOW), []);
  });

  it('moves the tenant to high-risk for 72 h at the fifth trusted report from a distinct reporter, with the counts in the reason', () => {
    const [action, ...rest] = escalate(policy, trusted(5, 7), null, false, NOW);
    assert.equal(rest.length, 0);
    assert.equal(action?.type, 'assign-high-risk');
    assert.ok(action?.type === 'assign-high-risk' && action.hours === 72);
    assert.match(action!.reason, /5 trusted abuse reports from distinct reporters in 24 h \(7 untrusted not counted\); threshold 5/);
  });

  it('does not assign again while a live high-risk assignment exists, but does once it expired', () => {
    assert.deepEqual(escalate(policy, trusted(9), assigned('high-risk', '2026-11-17T00:00:00Z'), false, NOW), []);
    assert.equal(escalate(policy, trusted(9), assigned('high-risk', '2026-11-15T00:00:00Z'), false, NOW)[0]?.type, 'assign-high-risk');
    assert.equal(escalate(policy, trusted(9), assigned('normal', null), false, NOW)[0]?.type, 'assign-high-risk');
  });

  it('raises the case to critical at 25 trusted reports, once', () => {
    const actions = escalate(policy, trusted(25), assigned('high-risk', null), false, NOW);
    assert.deepEqual(actions.map((a) => a.type), ['critical']);
    assert.deepEqual(escalate(policy, trusted(30), assigned('high-risk', null), true, NOW), []);
  });

  it('never acts on untrusted reports, however many (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 100_000 }), fc.boolean(), (n, untrusted, critical) => {
        assert.deepEqual(escalate(policy, trusted(n, untrusted), null, critical, NOW), []);
      }),
    );
  });
});
