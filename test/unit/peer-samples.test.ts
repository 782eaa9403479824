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
    // The ARF report is signed by nobody; the original by newsletter.jasmin.com (i= and s= kept).
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
