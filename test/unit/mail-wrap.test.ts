import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { wrapText } from '../../src/mail/render.js';

const wordsOf = (text: string) => text.split(/\s+/).filter(Boolean);
const isSingleWord = (line: string) => !/\s/.test(line.trim());

const LONG_URL = 'https://portal.example.net/delist/confirm?token=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('wrapText', () => {
  it('leaves a line that fits unchanged, spacing included', () => {
    const text = 'Hello  there,\tfriend.';
    assert.equal(wrapText(text, 72), text);
  });

  it('wraps at 72 columns by default', () => {
    const text = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
    const lines = wrapText(text).split('\n');
    assert.ok(lines.length > 1);
    for (const line of lines) assert.ok(line.length <= 72, `${line.length}: ${line}`);
    assert.ok(lines.slice(0, -1).every((line, i) => line.length + 1 + (lines[i + 1]!.split(' ')[0]!.length) > 72), 'each line is filled greedily');
  });

  it('breaks between words, filling each line as far as the width allows', () => {
    assert.equal(wrapText('aaa bbb ccc ddd', 7), 'aaa bbb\nccc ddd');
    assert.equal(wrapText('aaa bbb ccc ddd', 8), 'aaa bbb\nccc ddd');
    assert.equal(wrapText('aaa bbb ccc ddd', 11), 'aaa bbb ccc\nddd');
  });

  it('puts a URL longer than the width on a line of its own without breaking it', () => {
    const out = wrapText(`Please open ${LONG_URL} within 60 minutes.`, 40);
    assert.deepEqual(out.split('\n'), ['Please open', LONG_URL, 'within 60 minutes.']);
  });

  it('keeps the indent of a wrapped line on its continuation lines', () => {
    assert.equal(wrapText('  - aaa bbb ccc', 9), '  - aaa\n  bbb ccc');
  });

  it('wraps each existing line on its own and keeps blank lines between paragraphs', () => {
    const out = wrapText('first one two three\n\nsecond one two three', 10);
    assert.equal(out, 'first one\ntwo three\n\nsecond one\ntwo three');
  });

  describe('properties', () => {
    const shortWord = fc.stringMatching(/^[A-Za-z0-9.,:;!?'()\/=&-]{1,12}$/);
    const longWord = fc.stringMatching(/^https:\/\/[a-z0-9.\/?=&-]{60,100}$/);
    const word = fc.oneof({ arbitrary: shortWord, weight: 9 }, { arbitrary: longWord, weight: 1 });
    const line = fc
      .tuple(fc.constantFrom('', '  ', '    ', '\t'), fc.array(fc.tuple(word, fc.constantFrom(' ', ' ', '  ', '\t')), { maxLength: 30 }))
      .map(([indent, parts]) => indent + parts.map(([w, sep], i) => (i === 0 ? w : sep + w)).join(''));
    const text = fc.array(line, { minLength: 1, maxLength: 6 }).map((lines) => lines.join('\n'));
    const width = fc.integer({ min: 10, max: 80 });

    it('never makes a line longer than the width unless it holds a single word', () => {
      fc.assert(
        fc.property(text, width, (input, w) => {
          for (const out of wrapText(input, w).split('\n')) {
            assert.ok(out.length <= w || isSingleWord(out), `line of ${out.length} > ${w}: ${JSON.stringify(out)}`);
          }
        }),
      );
    });

    it('keeps every word, in order', () => {
      fc.assert(
        fc.property(text, width, (input, w) => {
          assert.deepEqual(wordsOf(wrapText(input, w)), wordsOf(input));
        }),
      );
    });

    it('keeps the words of each input line together and in order', () => {
      fc.assert(
        fc.property(text, width, (input, w) => {
          const outLines = wrapText(input, w).split('\n');
          // Splitting each input line on its own must give back exactly the output, in sequence.
          const rebuilt = input.split('\n').flatMap((l) => wrapText(l, w).split('\n'));
          assert.deepEqual(outLines, rebuilt);
          assert.ok(outLines.length >= input.split('\n').length);
        }),
      );
    });

    it('returns text whose lines all fit unchanged', () => {
      fc.assert(
        fc.property(text, width, (input, w) => {
          fc.pre(input.split('\n').every((l) => l.length <= w));
          assert.equal(wrapText(input, w), input);
        }),
      );
    });

    it('is idempotent', () => {
      fc.assert(
        fc.property(text, width, (input, w) => {
          const once = wrapText(input, w);
          assert.equal(wrapText(once, w), once);
        }),
      );
    });
  });
});
