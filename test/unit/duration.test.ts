import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDuration } from '../../src/domain/duration.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

describe('parseDuration', () => {
  it('reads 30m, 72h, 7d and 2w as milliseconds', () => {
    assert.equal(parseDuration('30m'), 30 * MINUTE);
    assert.equal(parseDuration('72h'), 72 * HOUR);
    assert.equal(parseDuration('7d'), 7 * DAY);
    assert.equal(parseDuration('2w'), 2 * WEEK);
  });

  it('reads 1m as one minute, the smallest duration', () => {
    assert.equal(parseDuration('1m'), MINUTE);
  });

  it('ignores surrounding whitespace', () => {
    assert.equal(parseDuration('  7d\n'), 7 * DAY);
  });

  it('accepts up to six digits', () => {
    assert.equal(parseDuration('999999m'), 999_999 * MINUTE);
    assert.equal(parseDuration('1000000m'), null);
  });

  it('gives null for a zero duration', () => {
    for (const text of ['0m', '0h', '0d', '0w', '000000d']) assert.equal(parseDuration(text), null, text);
  });

  for (const text of ['', '   ', '7', 'd', '7x', '10s', '7D', '72H', '1.5h', '-1d', '+1d', '7 d', '7dd', '1d2h', 'never', 'P7D', '٣d']) {
    it(`gives null for ${JSON.stringify(text)}`, () => {
      assert.equal(parseDuration(text), null);
    });
  }

  it('multiplies any count by its unit up to ten years, and refuses longer', () => {
    const units = { m: MINUTE, h: HOUR, d: DAY, w: WEEK } as const;
    const max = 10 * 366 * DAY;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 999_999 }), fc.constantFrom('m', 'h', 'd', 'w' as const), (n, unit) => {
        assert.equal(parseDuration(`${n}${unit}`), n * units[unit] <= max ? n * units[unit] : null);
      }),
    );
    assert.equal(parseDuration('3660d'), max);
    assert.equal(parseDuration('3661d'), null);
  });
});
