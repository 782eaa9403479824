/**
 * Issue 13 item 2: what a sample may make the parser read is bounded before it is read. Each hostile shape (each
 * once froze the web role for 4–8 s) is refused by a bound, or parsed within the bounds; each bound accepts its
 * limit and refuses one more; the summary kept of a sample is small whatever the sample.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadPolicy } from '../../src/policy.js';
import { hopsThatMatter, parseSample, SampleError, sampleBounds, summarizeSample, SUMMARY_BOUNDS, type SampleLimits } from '../../src/domain/samples.js';
import { arfLines, boundaryLines, foldedLines, manyAddresses, manyReceived, nestedForwards, ourHeaders, tinyHeaders } from '../helpers/hostile.js';
import { network } from '../helpers/network.js';

const policy = loadPolicy();
const limits: SampleLimits = policy.samples;
const CRLF = '\r\n';

async function refusedAs(raw: Buffer | string, code: SampleError['code'], lim: SampleLimits = limits, pattern?: RegExp): Promise<SampleError> {
  try {
    await parseSample(raw, network, lim);
  } catch (err) {
    assert.ok(err instanceof SampleError, `expected SampleError(${code}), got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, /^[A-Z].{30,}\.$/s, 'a readable sentence');
    if (pattern) assert.match(err.message, pattern);
    return err;
  }
  assert.fail(`expected SampleError(${code}) but the sample was accepted`);
}

const message = (headers: string, body = 'hello') => `${ourHeaders}${CRLF}From: a@shop.example.com${CRLF}${headers}${CRLF}${CRLF}${body}${CRLF}`;

describe('hostile samples of issue 13 (each under 10 MB)', () => {
  it('refuses ~1M tiny header fields by the field count, naming the limit', async () => {
    const raw = tinyHeaders();
    assert.ok(raw.length < 10 * 1024 * 1024);
    await refusedAs(raw, 'TOO_COMPLEX', limits, /more than 20000 fields/);
  });

  it('refuses a From: with ~1M addresses (one 4 MB line) by the line length', async () => {
    await refusedAs(manyAddresses(), 'TOO_COMPLEX', limits, /longer than our limit of 64 KB/);
  });

  it('refuses a field folded over ~1M lines by the length of the unfolded field', async () => {
    await refusedAs(foldedLines(), 'TOO_COMPLEX', limits, /once its folded lines are joined/);
  });

  it('refuses an ARF report whose feedback-report part has ~1M lines', async () => {
    await refusedAs(arfLines(), 'TOO_COMPLEX', limits, /feedback report/);
  });

  it('refuses 20 nested forwards by the MIME depth', async () => {
    await refusedAs(nestedForwards(20), 'TOO_DEEP');
  });

  it('parses ~1M boundary-like lines in a multipart body (they are body text, not parts): one part, our hop found', async () => {
    const parsed = await parseSample(boundaryLines(), network, limits);
    assert.equal(parsed.sourceIp, '203.0.113.10');
    assert.equal(parsed.tenant, 'hostile-t');
  });

  it('refuses ~1M real boundaries by the part count before splitting them all', async () => {
    const raw = `${ourHeaders}${CRLF}Content-Type: multipart/mixed; boundary=b${CRLF}${CRLF}${'--b\r\n'.repeat(1_000_000)}--b--${CRLF}`;
    await refusedAs(raw, 'TOO_DEEP', limits, /more than 5000 MIME parts/);
  });
});

describe('hostile shapes of the formats issue 15 reads (each under 10 MB)', () => {
  it('refuses a bare JSON nested ~4M levels deep without handing it to JSON.parse (seconds on such input)', async () => {
    const deep = `{"xarf_version":"4","category":"messaging","source_identifier":"203.0.113.10","a":${'['.repeat(4_000_000)}${']'.repeat(4_000_000)}}`;
    // Not read as X-ARF (nesting over 32), then refused as a message: one line over the line length, and on
    // short lines one unfolded "field" over its bound.
    await refusedAs(deep, 'TOO_COMPLEX', limits, /longer than our limit/);
    await refusedAs(deep.replace(/\[\[\[\[/g, '[[[[\n'), 'TOO_COMPLEX', limits, /once its folded lines are joined/);
  });

  it('refuses JSON that is no X-ARF report as not a message', async () => {
    await refusedAs(JSON.stringify({ hello: 'x' }, null, 1), 'NOT_A_MESSAGE');
  });

  it('reads an X-ARF v4 report with 100000 evidence items by its first few, and a hostile sample in it by the bounds', async () => {
    const evidence = Array.from({ length: 100_000 }, () => ({ content_type: 'message/rfc822', payload: Buffer.from('Subject: x\n\nbody').toString('base64') }));
    const report = { xarf_version: '4.0.0', category: 'messaging', type: 'spam', source_identifier: '203.0.113.10', evidence };
    const parsed = await parseSample(JSON.stringify(report), network, limits);
    assert.equal(parsed.format, 'xarf-json');
    assert.equal(parsed.sourceIp, '203.0.113.10');
    const hostile = { ...report, evidence: [{ content_type: 'message/rfc822', payload: Buffer.from(`${'X: y\n'.repeat(30_000)}\n`).toString('base64') }] };
    await refusedAs(JSON.stringify(hostile), 'TOO_COMPLEX', limits, /more than 20000 fields/);
  });

  it('refuses pasted header lines that lost their folding (~1M of them under one Received) by the unfolded field length', async () => {
    await refusedAs(message(`Received: from a${CRLF}${'(x) by b\r\n'.repeat(1_000_000)}`), 'TOO_COMPLEX', limits, /once its folded lines are joined/);
  });

  it('reads a SpamCop report whose text repeats its marks ~300000 times by the first of them', async () => {
    const body = `Email from 203.0.113.10 / now${CRLF}${'[ Offending message ]\r\n'.repeat(300_000)}`;
    await assert.rejects(parseSample(`From: x@reports.spamcop.net${CRLF}Subject: [SpamCop]${CRLF}${CRLF}${body}`, network, limits), /Offending|network|header|Received/);
  });
});

describe('each bound accepts its limit and refuses one more', () => {
  it('header block bytes', async () => {
    const raw = message('Subject: x');
    const headerBytes = raw.indexOf('\r\n\r\n') + 2; // the block with its last CRLF
    assert.equal((await parseSample(raw, network, { ...limits, maxHeaderBytes: headerBytes })).sourceIp, '203.0.113.10');
    await refusedAs(raw, 'TOO_COMPLEX', { ...limits, maxHeaderBytes: headerBytes - 1 }, /header lines of this message are larger than our limit/);
  });

  it('fields per header block', async () => {
    const raw = message('Subject: x');
    const fields = raw.slice(0, raw.indexOf('\r\n\r\n')).split('\r\n').length;
    assert.ok(await parseSample(raw, network, { ...limits, maxHeaderFields: fields }));
    await refusedAs(raw, 'TOO_COMPLEX', { ...limits, maxHeaderFields: fields - 1 }, new RegExp(`more than ${fields - 1} fields`));
  });

  it('line length, and the length of a field once unfolded', async () => {
    const line = `Subject: ${'x'.repeat(991)}`; // 1000 bytes, 1001 with the CR
    assert.ok(await parseSample(message(line), network, { ...limits, maxLineLength: 1001 }));
    await refusedAs(message(line), 'TOO_COMPLEX', { ...limits, maxLineLength: 1000 }, /longer than our limit of 1000 bytes/);
    const folded = `Subject: ${Array.from({ length: 10 }, () => 'y'.repeat(90)).join('\r\n ')}`; // short lines, ~950 bytes unfolded
    assert.ok(await parseSample(message(folded), network, { ...limits, maxLineLength: 1000 }));
    await refusedAs(message(folded), 'TOO_COMPLEX', { ...limits, maxLineLength: 500 }, /once its folded lines are joined/);
  });

  it('addresses in From:, counting group syntax too; commas inside quotes and comments are not separators', async () => {
    const from = (value: string) => `${ourHeaders}${CRLF}From: ${value}${CRLF}Subject: x${CRLF}${CRLF}hello${CRLF}`;
    const parsed = await parseSample(from('"Doe, John (the, one)" <john@example.com> (a, comment)'), network, { ...limits, maxAddressesPerField: 1 });
    assert.equal(parsed.from, 'john@example.com');
    assert.equal(parsed.fromName, 'Doe, John (the, one)');
    const list = Array.from({ length: 100 }, (_, i) => `u${i}@example.com`).join(', ');
    assert.equal((await parseSample(from(list), network, limits)).from, 'u0@example.com');
    await refusedAs(from(`${list}, u100@example.com`), 'TOO_COMPLEX', limits, /From: field of the reported message lists more than 100 addresses/);
    await refusedAs(from('g:'.repeat(200)), 'TOO_COMPLEX', limits, /more than 100 addresses/);
  });

  it('attached messages, every level together', async () => {
    const attached = (n: number) =>
      `${ourHeaders}${CRLF}From: a@shop.example.com${CRLF}Content-Type: multipart/mixed; boundary=m${CRLF}${CRLF}` +
      Array.from({ length: n }, (_, i) => `--m${CRLF}Content-Type: message/rfc822${CRLF}${CRLF}Subject: inner ${i}${CRLF}${CRLF}x${CRLF}`).join('') +
      `--m--${CRLF}`;
    assert.equal((await parseSample(attached(3), network, { ...limits, maxNestedMessages: 3 })).kind, 'message');
    await refusedAs(attached(4), 'TOO_COMPLEX', { ...limits, maxNestedMessages: 3 }, /more than 3 attached messages/);
  });

  it('MIME parts, as set in the policy', async () => {
    const parts = (n: number) => `${ourHeaders}${CRLF}Content-Type: multipart/mixed; boundary=b${CRLF}${CRLF}${'--b\r\n\r\nx\r\n'.repeat(n)}--b--${CRLF}`;
    assert.ok(await parseSample(parts(9), network, { ...limits, maxMimeParts: 10 })); // the root and 9 parts
    await refusedAs(parts(10), 'TOO_DEEP', { ...limits, maxMimeParts: 10 }, /more than 10 MIME parts/);
  });

  it('bounds the header block of a MIME part and of an attached message too', async () => {
    const partHeader = `${ourHeaders}${CRLF}Content-Type: multipart/mixed; boundary=b${CRLF}${CRLF}--b${CRLF}${'X: y\r\n'.repeat(50)}${CRLF}x${CRLF}--b--${CRLF}`;
    await refusedAs(partHeader, 'TOO_COMPLEX', { ...limits, maxHeaderFields: 40 }, /header lines of one of its parts/);
  });

  it('fills in the bounds an older limits object leaves out, and refuses a bad one as a configuration error', () => {
    assert.deepEqual(sampleBounds({ maxBytes: 100, maxMimeDepth: 3 }), { maxBytes: 100, maxMimeDepth: 3, maxHeaderBytes: 2097152, maxHeaderFields: 20000, maxLineLength: 65536, maxAddressesPerField: 100, maxMimeParts: 5000, maxNestedMessages: 50 });
    assert.throws(() => sampleBounds({ maxBytes: 100, maxMimeDepth: 3, maxHeaderFields: 0 }), TypeError);
  });
});

describe('the summary kept of a sample', () => {
  it('keeps the top hops and the hand-off with three above and below it, counting those left out', async () => {
    const parsed = await parseSample(manyReceived(10_000), network, limits);
    assert.equal(parsed.receivedCount, 10_000);
    assert.equal(parsed.handoffIndex, 1);
    const summary = summarizeSample(parsed);
    assert.deepEqual(
      summary.hops.map((h) => h.index),
      [0, 1, 2, 3, 4],
    );
    assert.equal(summary.omittedHops, 10_000 - 5);
    assert.ok(JSON.stringify(summary).length < 100 * 1024, `summary of ${JSON.stringify(summary).length} bytes`);
    assert.equal('arf' in summary, false);
  });

  it('keeps the hops around a hand-off deep in the path, and the first ones when there is none', () => {
    const hops = Array.from({ length: 40 }, (_, index) => ({ index, raw: '', fromHost: null, fromIp: null, byHost: null, ourHop: false }));
    assert.deepEqual(
      hopsThatMatter(hops, 20).map((h) => h.index),
      [0, 1, 17, 18, 19, 20, 21, 22, 23],
    );
    assert.deepEqual(
      hopsThatMatter(hops, -1).map((h) => h.index),
      [0, 1, 2, 3, 4, 5, 6, 7, 8],
    );
  });

  it('cuts every text of a summary', async () => {
    const long = 'z'.repeat(5000);
    const raw = `Received: from o12.outbound.example.net (o12.outbound.example.net [203.0.113.10]) by mx.example.org ${long}${CRLF}From: "${long}" <a@shop.example.com>${CRLF}Subject: ${long}${CRLF}Message-ID: <${long}@x>${CRLF}${CRLF}x${CRLF}`;
    const summary = summarizeSample(await parseSample(raw, network, limits));
    assert.equal(summary.subject?.length, SUMMARY_BOUNDS.text);
    assert.equal(summary.fromName?.length, SUMMARY_BOUNDS.text);
    assert.equal(summary.messageId?.length, SUMMARY_BOUNDS.text);
    assert.equal(summary.hops[0]?.raw.length, SUMMARY_BOUNDS.hopRaw);
    const big = summarizeSample(await parseSample(message(Array.from({ length: 200 }, (_, i) => `X-Pad-${i}: ${'p'.repeat(900)}`).join(CRLF)), network, limits));
    assert.equal(big.originalHeaders.length, SUMMARY_BOUNDS.headers);
  });
});
