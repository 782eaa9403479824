/**
 * Issue 15: how long the sample parser takes on the peer corpus (../shared/peer-samples, 60 real abuse reports),
 * each read with a policy whose pool holds its sending IP. The figure is the median over the samples of each
 * sample's median time over `rounds` parses (after a warm-up); beside it, in the same run on the same files,
 * postal-mime alone (a full MIME parse, no hand-off, no report formats) as the baseline.
 */
import PostalMime from 'postal-mime';
import { parseSample, type SampleLimits } from '../../src/domain/samples.js';
import { PEER_EXPECTED, peerSampleFiles, peerSamplesDir, policyFor, readPeerSample } from '../helpers/peer-samples.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const limits: SampleLimits = { maxBytes: 10 * 1024 * 1024, maxMimeDepth: 10 };

export async function peerParseBench(opts: { rounds: number }): Promise<Array<[string, number, string]>> {
  const dir = peerSamplesDir();
  if (!dir) {
    process.stderr.write('peer samples not found (set PEER_SAMPLES_DIR, or put them in ../shared/peer-samples): report.peer_parse_median_ms skipped\n');
    return [];
  }
  const samples = peerSampleFiles(dir).map((file) => {
    const e = PEER_EXPECTED[file];
    return { raw: readPeerSample(dir, file), policy: policyFor(e && !('refused' in e) ? e.sourceIp : '192.0.2.1') };
  });
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    await fn().catch(() => undefined); // a refusal (sis--bsd-arf-26) is timed like an answer
    return performance.now() - t0;
  };
  const ours: number[] = [];
  const baseline: number[] = [];
  for (let warm = 0; warm < 3; warm++) for (const s of samples) await time(() => parseSample(s.raw, s.policy, limits));
  for (const s of samples) {
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      a.push(await time(() => parseSample(s.raw, s.policy, limits)));
      b.push(await time(() => PostalMime.parse(s.raw)));
    }
    ours.push(median(a));
    baseline.push(median(b));
  }
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return [
    ['report.peer_parse_median_ms', round(median(ours)), 'ms'],
    ['report.peer_parse_max_ms', round(Math.max(...ours)), 'ms'],
    ['baseline.postal_mime_peer_median_ms', round(median(baseline)), 'ms'],
    ['report.peer_parse_vs_postal_mime', round(median(ours) / median(baseline)), 'ratio'],
  ];
}
