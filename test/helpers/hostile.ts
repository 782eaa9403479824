/**
 * The hostile samples of issue 13 item 2, each under 10 MB: shapes that once froze the web role for seconds
 * (postal-mime over the whole sample, addressParser over a huge From:). Every one names our hand-off hop, so a
 * parser that reads it all would accept it: what stops it must be a bound or the parse budget.
 */
import { gzipSync } from 'node:zlib';

const CRLF = '\r\n';
const M = 1_000_000;

/** Headers of a message that left through our normal pool (tenant `hostile-t`). */
export const ourHeaders = [
  'Received: from mx.recipient.example.org (mx.recipient.example.org [192.0.2.10]) by mailbox.recipient.example.org with LMTP; Mon, 16 Nov 2026 10:00:02 +0000',
  'Received: from o12.outbound.example.net (o12.outbound.example.net [203.0.113.10]) by mx.recipient.example.org (Postfix) with ESMTPS id 4A1B2C; Mon, 16 Nov 2026 10:00:01 +0000',
  'X-Tenant-Id: hostile-t',
  'Return-Path: <bounces@mailer.example.com>',
  'Date: Mon, 16 Nov 2026 09:59:58 +0000',
  'Message-ID: <hostile@shop.example.com>',
].join(CRLF);

/** ~1M lines that look like the multipart boundary without being it (`--bb` for boundary `b`). */
export function boundaryLines(lines = M): Buffer {
  return Buffer.from(`${ourHeaders}${CRLF}From: a@shop.example.com${CRLF}Subject: boundaries${CRLF}MIME-Version: 1.0${CRLF}Content-Type: multipart/mixed; boundary=b${CRLF}${CRLF}--b${CRLF}${CRLF}x${CRLF}${'--bb\r\n'.repeat(lines)}--b--${CRLF}`);
}

/** ~1M tiny header fields. */
export function tinyHeaders(fields = M): Buffer {
  return Buffer.from(`${ourHeaders}${CRLF}From: a@shop.example.com${CRLF}${'X: y\r\n'.repeat(fields)}${CRLF}body${CRLF}`);
}

/** A From: with ~1M addresses (on one line). */
export function manyAddresses(addresses = M): Buffer {
  return Buffer.from(`${ourHeaders}${CRLF}From: ${'a@b,'.repeat(addresses)}c@d${CRLF}Subject: many${CRLF}${CRLF}body${CRLF}`);
}

/** A Subject: folded over ~1M continuation lines. */
export function foldedLines(lines = M): Buffer {
  return Buffer.from(`${ourHeaders}${CRLF}From: a@shop.example.com${CRLF}Subject: folded${CRLF}${' y\r\n'.repeat(lines)}${CRLF}body${CRLF}`);
}

/** An ARF report whose feedback-report part has ~1M lines; the original is ours. */
export function arfLines(lines = M): Buffer {
  return Buffer.from(
    [
      'From: fbl@partner.example',
      'Subject: FBL report',
      'MIME-Version: 1.0',
      'Content-Type: multipart/report; report-type=feedback-report; boundary=arf',
      '',
      '--arf',
      'Content-Type: text/plain',
      '',
      'A complaint.',
      '--arf',
      'Content-Type: message/feedback-report',
      '',
      'Feedback-Type: abuse',
      'Version: 1',
      'Source-IP: 203.0.113.10',
      `${'A: b\r\n'.repeat(lines)}--arf`,
      'Content-Type: message/rfc822',
      '',
      ourHeaders,
      'From: a@shop.example.com',
      'Subject: original',
      '',
      'spam',
      '--arf--',
      '',
    ].join(CRLF),
  );
}

/** `levels` forwards, each a multipart/mixed holding a message/rfc822 (two MIME levels each); the innermost is ours. */
export function nestedForwards(levels = 20): Buffer {
  let message = `${ourHeaders}${CRLF}From: a@shop.example.com${CRLF}Subject: innermost${CRLF}${CRLF}hello${CRLF}`;
  for (let level = 0; level < levels; level++) {
    const b = `f${level}`;
    message = `From: fwd${level}@elsewhere.example${CRLF}Subject: fwd ${level}${CRLF}Content-Type: multipart/mixed; boundary="${b}"${CRLF}${CRLF}--${b}${CRLF}Content-Type: message/rfc822${CRLF}${CRLF}${message}${CRLF}--${b}--${CRLF}`;
  }
  return Buffer.from(message);
}

/** A ~10 MB sample (tiny headers) gzipped: about 15 KB on the wire. */
export function gzipBomb(): Buffer {
  return gzipSync(tinyHeaders(1_600_000), { level: 9 });
}

/** The hostile shapes by name (the gzip one is a transport trick, sent with Content-Encoding: gzip). */
export const HOSTILE: Record<string, () => Buffer> = { boundaryLines, tinyHeaders, manyAddresses, foldedLines, arfLines, nestedForwards };

/** A real-shaped message with `received` Received lines below our hand-off (forged ones, as a sender may write). */
export function manyReceived(received = 10_000): Buffer {
  const forged = Array.from({ length: received - 2 }, (_, i) => `Received: from h${i}.example.com (h${i}.example.com [198.51.100.${i % 250}]) by relay${i}.example.com; Mon, 16 Nov 2026 09:00:00 +0000`).join(CRLF);
  return Buffer.from(`${ourHeaders}${CRLF}${forged}${CRLF}From: a@shop.example.com${CRLF}Subject: long path${CRLF}${CRLF}body${CRLF}`);
}
