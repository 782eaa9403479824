import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
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
    ['ko;q=abc, zh-HK;q=0.2', 'zh-TW'],
    [`${'x-private-tag;q=0.9, '.repeat(20)}zh;q=0.95`, 'zh-TW'],
  ];
  for (const [header, lang] of cases) {
    it(`answers ${lang} for ${JSON.stringify(header)?.slice(0, 40)}`, () => {
      assert.equal(fromAcceptLanguage(header), lang);
    });
  }
});
