import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomId } from '../../src/domain/random.js';
import { isRequestId, newId } from '../../src/stores/requests.js';

describe('pooled random ids', () => {
  it('hands out distinct ids of the right shape across many pool refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = newId();
      assert.ok(isRequestId(id), id);
      seen.add(id);
    }
    assert.equal(seen.size, 20_000);
    assert.match(randomId(16), /^[A-Za-z0-9_-]{22}$/);
  });

  it('spreads its bytes: every base64url character turns up, none far more often than the rest', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) for (const c of randomId(12)) counts.set(c, (counts.get(c) ?? 0) + 1);
    assert.equal(counts.size, 64);
    const expected = (4000 * 16) / 64;
    for (const [c, n] of counts) assert.ok(n > expected * 0.7 && n < expected * 1.3, `${c}: ${n}`);
  });

  it('refuses a size larger than its pool', () => {
    assert.throws(() => randomId(5000), RangeError);
  });
});
