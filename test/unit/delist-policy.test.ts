import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideDelist, relistDurationDays, selfDelistsLeft } from '../../src/domain/delist-policy.js';
import type { BlockEntry, Verdict } from '../../src/domain/listing.js';
import { loadPolicy, type Policy } from '../../src/policy.js';

const policy = loadPolicy();

function listedAs(category: string, cidr = '198.51.100.7'): Verdict {
  const listing: BlockEntry = { cidr, category, reason: 'test', source: 'test', listedAt: '2025-05-01T00:00:00.000Z', expiresAt: null };
  return { listed: true, listing };
}

const withSelfDelist = (selfDelist: Partial<Policy['selfDelist']>): Policy => ({ ...policy, selfDelist: { ...policy.selfDelist, ...selfDelist } });

describe('decideDelist', () => {
  it('refuses our own outbound address and says to write to our staff through the contact form', () => {
    const decision = decideDelist(policy, listedAs('spam-source'), 0, true);
    assert.equal(decision.outcome, 'refused');
    assert.match(decision.reason, /our own outbound network/);
    assert.match(decision.reason, /contact form/i);
  });

  it('refuses our own address before looking at the listing, budget or category', () => {
    assert.equal(decideDelist(policy, { listed: false }, 0, true).outcome, 'refused');
    assert.equal(decideDelist(policy, listedAs('botnet'), 0, true).outcome, 'refused');
    assert.equal(decideDelist(policy, listedAs('spam-source'), 99, true).outcome, 'refused');
  });

  it('answers not_listed when the address is not on the list', () => {
    const decision = decideDelist(policy, { listed: false }, 0, false);
    assert.equal(decision.outcome, 'not_listed');
    assert.match(decision.reason, /not on our blocked-senders list/);
  });

  it('answers not_listed when the covering listing is excluded for this address', () => {
    const excluded: Verdict = { ...listedAs('spam-source', '198.51.100.0/24'), listed: false };
    assert.equal(decideDelist(policy, excluded, 0, false).outcome, 'not_listed');
  });

  for (const category of ['spam-source', 'backscatter']) {
    it(`delists a ${category} listing while self-delists are left`, () => {
      for (const used of [0, 1, 2]) {
        const decision = decideDelist(policy, listedAs(category), used, false);
        assert.equal(decision.outcome, 'delisted', `used ${used}`);
        assert.match(decision.reason, /removed from our blocked-senders list/);
      }
    });
  }

  for (const category of ['botnet', 'malware', 'snowshoe', 'manual']) {
    it(`sends a ${category} listing to staff review because the category is not self-removable`, () => {
      const decision = decideDelist(policy, listedAs(category), 0, false);
      assert.equal(decision.outcome, 'needs_review');
      assert.match(decision.reason, new RegExp(`"${category}" cannot be removed by self-service`));
    });
  }

  it('sends the request to staff once all 3 self-delists of the 30-day window are used', () => {
    for (const used of [3, 4, 10]) {
      const decision = decideDelist(policy, listedAs('spam-source'), used, false);
      assert.equal(decision.outcome, 'needs_review', `used ${used}`);
      assert.match(decision.reason, /used all 3 self-delists allowed in 30 days/);
    }
  });

  it('follows the budget of the policy it is given', () => {
    const strict = withSelfDelist({ maxPerWindow: 1, windowDays: 7 });
    assert.equal(decideDelist(strict, listedAs('spam-source'), 0, false).outcome, 'delisted');
    const over = decideDelist(strict, listedAs('spam-source'), 1, false);
    assert.equal(over.outcome, 'needs_review');
    assert.match(over.reason, /used all 1 self-delists allowed in 7 days/);
    assert.equal(decideDelist(withSelfDelist({ maxPerWindow: 0 }), listedAs('spam-source'), 0, false).outcome, 'needs_review');
  });

  it('checks the category before the budget, so a botnet listing names its category even with no budget left', () => {
    const decision = decideDelist(policy, listedAs('botnet'), 3, false);
    assert.equal(decision.outcome, 'needs_review');
    assert.match(decision.reason, /"botnet"/);
  });

  it('sends a listing of an unknown category to staff review and names the category', () => {
    const decision = decideDelist(policy, listedAs('mystery'), 0, false);
    assert.equal(decision.outcome, 'needs_review');
    assert.match(decision.reason, /mystery/);
  });

  it('picks refused, not_listed, delisted or needs_review in that order of precedence, always with a reason', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('spam-source', 'backscatter', 'botnet', 'malware', 'snowshoe', 'manual', 'unknown'),
        fc.boolean(),
        fc.nat({ max: 10 }),
        fc.boolean(),
        (category, listed, used, own) => {
          const verdict: Verdict = listed ? listedAs(category) : { listed: false };
          const decision = decideDelist(policy, verdict, used, own);
          const selfRemovable = policy.categories[category]?.selfRemovable === true;
          const expected = own ? 'refused' : !listed ? 'not_listed' : selfRemovable && used < 3 ? 'delisted' : 'needs_review';
          assert.equal(decision.outcome, expected);
          assert.ok(decision.reason.trim().length > 0);
        },
      ),
    );
  });
});

describe('selfDelistsLeft', () => {
  it('counts down 3, 2, 1, 0 and then stays at 0', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 100].map((used) => selfDelistsLeft(policy, used)), [3, 2, 1, 0, 0, 0, 0]);
  });

  it('is never negative and never more than the budget', () => {
    fc.assert(
      fc.property(fc.nat({ max: 20 }), fc.nat({ max: 1000 }), (max, used) => {
        const left = selfDelistsLeft(withSelfDelist({ maxPerWindow: max }), used);
        assert.ok(left >= 0, `left ${left}`);
        assert.ok(left <= max);
        assert.equal(left, Math.max(0, max - used));
      }),
    );
  });
});

describe('relistDurationDays', () => {
  it('gives 1, 1, 2, 4, 8, 16 days after 0..5 self-delists with the default policy', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => relistDurationDays(policy, n)), [1, 1, 2, 4, 8, 16]);
  });

  it('scales with the base duration of the policy', () => {
    const p: Policy = { ...policy, relist: { baseDays: 3 } };
    assert.deepEqual([0, 1, 2, 3].map((n) => relistDurationDays(p, n)), [3, 3, 6, 12]);
  });

  it('doubles with each self-delist after the first', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), (n) => {
        assert.equal(relistDurationDays(policy, n + 1), 2 * relistDurationDays(policy, n));
      }),
    );
  });
});

describe('decideDelist with nested listings', () => {
  it('sends a self-removable address listing inside a staff-only range to review', () => {
    const own: BlockEntry = { cidr: '198.51.100.7', category: 'spam-source', reason: 't', source: 't', listedAt: '2025-05-01T00:00:00.000Z', expiresAt: null };
    const range: BlockEntry = { ...own, cidr: '198.51.100.0/24', category: 'botnet' };
    const decision = decideDelist(policy, { listed: true, listing: own, covering: [own, range] }, 0, false);
    assert.equal(decision.outcome, 'needs_review');
    assert.match(decision.reason, /botnet/);
    assert.equal(decideDelist(policy, { listed: true, listing: own, covering: [own, { ...range, category: 'backscatter' }] }, 0, false).outcome, 'delisted');
  });
});
