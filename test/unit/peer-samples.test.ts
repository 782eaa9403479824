/**
 * Issue 15: the peer corpus (../shared/peer-samples, 60 real abuse reports) read as a desk expects. Each sample is
 * parsed with a policy of its own whose pool holds that report's sending IP (for ARF its Source-IP); the expected
 * answers are in test/helpers/peer-samples.ts with the peers' own tests as the reference.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotOurMailError, parseSample, summarizeSample, type SampleLimits } from '../../src/domain/samples.js';
import { PEER_EXPECTED, peerSampleFiles, peerSamplesDir, policyFor, readPeerSample } from '../helpers/peer-samples.js';

const limits: SampleLimits = { maxBytes: 10 * 1024 * 1024, maxMimeDepth: 10 };
const dir = peerSamplesDir();

describe('the peer corpus of issue 15, read as a desk expects', { skip: dir ? false : 'peer samples not found (set PEER_SAMPLES_DIR, or put them in ../shared/peer-samples)' }, () => {
  const files = dir ? peerSampleFiles(dir) : [];

  it('holds the 60 samples, each with an expectation', () => {
    assert.equal(files.length, 60);
    assert.deepEqual(files.filter((f) => !(f in PEER_EXPECTED)), []);
    assert.deepEqual(Object.keys(PEER_EXPECTED).filter((f) => !files.includes(f)), []);
  });

  for (const file of files) {
    const expected = PEER_EXPECTED[file];
    if (!expected) continue;
    it(file, async () => {
      const raw = readPeerSample(dir!, file);
      if ('refused' in expected) {
        // Whatever pool holds: no address of the sample can be ours.
        await assert.rejects(parseSample(raw, policyFor('192.0.2.1'), limits), NotOurMailError);
        return;
      }
      const s = await parseSample(raw, policyFor(expected.sourceIp), limits);
      assert.deepEqual(
        { sourceIp: s.sourceIp, feedbackType: s.feedbackType, mailFrom: s.mailFrom, messageId: s.messageId, reportedDomain: s.reportedDomain, format: s.format },
        expected,
      );
      // The summary (what is stored and shown) keeps them, and the customer signals stay within their bounds.
      const summary = summarizeSample(s);
      assert.equal(summary.format, expected.format);
      assert.equal(summary.reportedDomain, expected.reportedDomain);
      for (const list of [summary.customer.feedbackIds, summary.customer.dkim]) assert.ok(list.length <= 8);
      // A sample read with a policy that holds none of its addresses is not ours.
      await assert.rejects(parseSample(raw, policyFor('198.18.0.1'), limits), NotOurMailError);
    });
  }

  it('finds the customer signals of the original message, not of the report around it', async () => {
    const read = async (file: string) => {
      const exp = PEER_EXPECTED[file];
      assert.ok(exp && !('refused' in exp));
      return (await parseSample(readPeerSample(dir!, file), policyFor(exp.sourceIp), limits)).customer;
    };
    // The ARF report is signed by nobody; the original by newsletter.jasmin.com (i= and s= kept), its VERP envelope there too.
    assert.deepEqual(await read('ab--01_marf.old.0.eml'), {
      feedbackIds: [],
      dkim: [{ domain: 'newsletter.jasmin.com', identity: 'Cameraboys@newsletter.jasmin.com', selector: 'xq' }],
      mailFromDomain: 'newsletter.jasmin.com',
      fromDomain: 'newsletter.jasmin.com',
    });
    // Amazon SES's Feedback-ID of the original.
    assert.deepEqual((await read('sis--bsd-arf-14.eml')).feedbackIds, ['2']);
    // X-ARF v3 inside ARF: the sample in the JSON is the original, with both of its signatures.
    const xarf = await read('ab--xarf2event.01_marf.xarf_version3_test.eml');
    assert.deepEqual(xarf.dkim.map((d) => `${d.domain}/${d.selector}`), ['launch.iainformatics.com/api', 'elasticemail.com/api']);
    assert.equal(xarf.mailFromDomain, 'bounces.launch.iainformatics.com');
    assert.equal(xarf.fromDomain, 'launch.iainformatics.com');
    // The JMRP complaint forwarded by Synacor: the complained-of message's sender, not hotmail.com's or Synacor's.
    const jmrp = await read('ab--hotmail.old.0.eml');
    assert.equal(jmrp.mailFromDomain, 'q.com');
    assert.equal(jmrp.fromDomain, 'q.com');
  });

  it('finds the hand-off in the Received lines that name the address as a word or split it, not only through Source-IP', async () => {
    const handoff = async (file: string) => {
      const exp = PEER_EXPECTED[file];
      assert.ok(exp && !('refused' in exp));
      const s = await parseSample(readPeerSample(dir!, file), policyFor(exp.sourceIp), limits);
      return s.hops[s.handoffIndex]?.fromIp ?? null;
    };
    assert.equal(await handoff('aio--USANet_example_1.eml'), '10.17.18.23'); // from host [ip] by …
    assert.equal(await handoff('ab--spamcop.spamvertized.2.eml'), '2603:10b6:a03:100::39'); // (2603: 10b6:a03:100::39) pasted
    assert.equal(await handoff('ab--hotmail.old.0.eml'), '205.169.121.111');
    assert.equal(await handoff('sis--mac-arf-01.eml'), null); // bare CR read; its Source-IP 192.0.2.89 is in no hop
  });
});

describe('the same kinds, shapes the corpus lacks', () => {
  const policy = policyFor('203.0.113.10');
  const hop = 'Received: from o10.outbound.example.net (o10.outbound.example.net [203.0.113.10]) by mx.example.org with ESMTP; Tue, 5 Mar 2024 10:00:00 +0000';
  const original = [hop, 'Return-Path: <bounce-42@mailer.example.com>', 'From: Shop <deals@shop.example.com>', 'Subject: Deals', 'Message-ID: <m1@shop.example.com>', 'Feedback-ID: c42:tenant-a:esp', 'DKIM-Signature: v=1; a=rsa-sha256; d=Shop.Example.com; i=@shop.example.com;', '\ts=sel1; h=from:subject; bh=x; b=y', '', 'Hello'].join('\r\n');

  it('reads X-ARF v4 JSON attached to a plain mail, its evidence as the original', async () => {
    const report = { xarf_version: '4.0.0', category: 'messaging', type: 'spam', source_identifier: '198.51.100.1', smtp_from: 'bounce-42@mailer.example.com', evidence: [{ content_type: 'message/rfc822', payload: Buffer.from(original).toString('base64') }] };
    const mail = ['From: trap@example.org', 'Subject: report', 'Content-Type: multipart/mixed; boundary=b', '', '--b', 'Content-Type: text/plain', '', 'see attachment', '--b', 'Content-Type: application/json', 'Content-Transfer-Encoding: base64', '', Buffer.from(JSON.stringify(report)).toString('base64'), '--b--', ''].join('\r\n');
    const s = await parseSample(mail, policy, limits);
    assert.equal(s.format, 'xarf-json');
    assert.equal(s.sourceIp, '203.0.113.10'); // the hop of ours, not the report's source_identifier
    assert.equal(s.messageId, '<m1@shop.example.com>');
    assert.deepEqual(s.customer, { feedbackIds: ['c42:tenant-a:esp'], dkim: [{ domain: 'shop.example.com', identity: '@shop.example.com', selector: 'sel1' }], mailFromDomain: 'mailer.example.com', fromDomain: 'shop.example.com' });
  });

  it('reads a header block alone as headers, and keeps the lowest of two Message-IDs and Return-Paths', async () => {
    const headers = ['Return-Path: <forwarder@relay.example.net>', 'Message-ID: <added-by-receiver@mx.example.org>', hop, 'Return-Path: <bounce-42@mailer.example.com>', 'Message-ID: <m1@shop.example.com>', 'From: deals@shop.example.com', ''].join('\r\n');
    const s = await parseSample(headers, policy, limits);
    assert.equal(s.format, 'headers');
    assert.equal(s.messageId, '<m1@shop.example.com>');
    assert.equal(s.mailFrom, 'bounce-42@mailer.example.com');
  });

  it('takes a JMRP complaint\'s subject address when no hop of the complained-of message is ours', async () => {
    const inner = ['X-HmXmrOriginalRecipient: <someone@hotmail.com>', 'Received: from mail.example.com ([198.51.100.77]) by BAY0-MC1-F49.Bay0.hotmail.com', 'From: deals@shop.example.com', 'Message-ID: <j1@shop.example.com>', '', 'spam'].join('\r\n');
    const complaint = ['From: staff@hotmail.com', 'Subject: complaint about message from 203.0.113.10', 'Content-Type: multipart/mixed; boundary=j', '', '--j', 'Content-Type: message/rfc822', '', inner, '--j--', ''].join('\r\n');
    const s = await parseSample(complaint, policy, limits);
    assert.deepEqual([s.format, s.feedbackType, s.sourceIp, s.handoffIndex, s.messageId], ['jmrp', 'abuse', '203.0.113.10', -1, '<j1@shop.example.com>']);
    // Without the mark and the subject it is a plain forward of foreign mail: not ours.
    await assert.rejects(parseSample(complaint.replace('complaint about message from', 'fwd:'), policy, limits), NotOurMailError);
  });

  it('reads a SpamCop report that attaches the spam instead of quoting it, its subject naming the source', async () => {
    const spam = ['Received: from mail.example.com ([198.51.100.77]) by mx.example.org', 'Return-Path: <bounce@shop.example.com>', 'From: deals@shop.example.com', 'Message-ID: <sc1@shop.example.com>', '', 'spam'].join('\r\n');
    const report = ['From: 123@reports.spamcop.net', 'Subject: [SpamCop (203.0.113.10) id:123]Deals', 'Content-Type: multipart/mixed; boundary=s', '', '--s', 'Content-Type: text/plain', '', '[ SpamCop V5 ]', '--s', 'Content-Type: message/rfc822', '', spam, '--s--', ''].join('\r\n');
    const s = await parseSample(report, policy, limits);
    assert.deepEqual([s.format, s.feedbackType, s.sourceIp, s.mailFrom, s.messageId], ['spamcop', 'abuse', '203.0.113.10', 'bounce@shop.example.com', '<sc1@shop.example.com>']);
  });

  it('reads our own message that quotes a SpamCop text as the message, not as a report naming nobody', async () => {
    const ours = [hop, 'From: deals@shop.example.com', 'Message-ID: <q1@shop.example.com>', '', 'Email from 198.51.100.9 / now', '[ Offending message ]', 'Subject: nothing of ours', '', 'x'].join('\r\n');
    const s = await parseSample(ours, policy, limits);
    assert.deepEqual([s.format, s.sourceIp, s.messageId], ['message', '203.0.113.10', '<q1@shop.example.com>']);
  });

  it('bounds the customer signals: at most 8 of each, each at most 255 characters', async () => {
    const many = [hop, ...Array.from({ length: 20 }, (_, i) => `Feedback-ID: ${'f'.repeat(400)}${i}`), ...Array.from({ length: 20 }, (_, i) => `DKIM-Signature: d=d${i}.example.com; s=${'s'.repeat(400)}`), 'From: a@b.example', '', 'x'].join('\r\n');
    const s = await parseSample(many, policy, limits);
    assert.equal(s.customer.feedbackIds.length, 8);
    assert.equal(s.customer.dkim.length, 8);
    assert.ok([...s.customer.feedbackIds, ...s.customer.dkim.map((d) => d.selector)].every((v) => v.length <= 255));
  });
});
