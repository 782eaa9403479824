import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { relativeTime, staffTime } from '../../src/features/staff/time.js';

describe('staff times', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  it('says how long ago or ahead, in the unit a reader needs', () => {
    assert.equal(relativeTime(now - 20_000, now), 'just now');
    assert.equal(relativeTime(now - 5 * 60_000, now), '5 min ago');
    assert.equal(relativeTime(now + 3 * 3_600_000, now), 'in 3 h');
    assert.equal(relativeTime(now - 47 * 3_600_000, now), '47 h ago');
    assert.equal(relativeTime(now - 3 * 86_400_000, now), '3 d ago');
  });
  it('writes UTC for the reader (the browser script turns it into their zone), the ISO time only in the attribute', () => {
    assert.equal(staffTime('2026-12-04T09:00:12.345Z', now), '<time datetime="2026-12-04T09:00:12.345Z" data-local title="2026-12-04T09:00:12.345Z"><span class="abs">2026-12-04 09:00 UTC</span> <span class="rel">(3 h ago)</span></time>');
    assert.equal(staffTime(null, now), '');
    assert.equal(staffTime('<b>', now), '&#60;b&#62;');
  });
});
