import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fromAcceptLanguage } from '../../src/i18n/index.js';

describe('fromAcceptLanguage', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'en'],
    ['', 'en'],
    ['ko-KR,ko;q=0.9,en;q=0.5', 'ko'],
    ['en;q=0.5, zh-TW', 'zh-TW'],
    ['zh-Hant-HK;q=0.8,en-GB;q=0.9', 'en'],
    ['fr-CH, fr;q=0.9, de;q=0.8', 'en'],
    ['ko;q=0, zh;q=0.1', 'zh-TW'],
    [`${'x-private-tag;q=0.9, '.repeat(20)}zh;q=0.95`, 'zh-TW'], // longer than the values whose answers are kept
  ];
  for (const [header, lang] of cases) {
    it(`answers ${lang} for ${JSON.stringify(header)?.slice(0, 40)}, again on a second call`, () => {
      assert.equal(fromAcceptLanguage(header), lang);
      assert.equal(fromAcceptLanguage(header), lang);
    });
  }

  it('gives the same answer before and after many other values came and went', () => {
    const tag = fc.constantFrom('ko', 'ko-KR', 'zh', 'zh-TW', 'zh-Hant', 'en', 'en-US', 'fr', 'de', 'ja', '*');
    const q = fc.option(fc.integer({ min: 0, max: 1000 }).map((n) => (n / 1000).toFixed(3)), { nil: undefined });
    const header = fc.array(fc.tuple(tag, q), { minLength: 1, maxLength: 6 }).map((parts) => parts.map(([t, v]) => (v === undefined ? t : `${t};q=${v}`)).join(', '));
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 10_000 }), (h, seed) => {
        const first = fromAcceptLanguage(h);
        // More distinct values than are kept, so the kept answers are forgotten at least once in between.
        for (let i = 0; i < 600; i++) fromAcceptLanguage(`x-${seed}-${i}, en;q=0.1`);
        return fromAcceptLanguage(h) === first;
      }),
      { numRuns: 50 },
    );
  });
});
