/**
 * Issue 15 through the real API: a handful of the peer corpus (../shared/peer-samples) posted to
 * `POST /api/v1/reports` with a token, against a portal whose pools hold those reports' sending IPs; the answer and
 * the stored summary say what a desk expects, and the reporter's preview shows how the sample was read.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import ejs from 'ejs';
import request from 'supertest';
import { translator } from '../../src/i18n/index.js';
import type { Policy } from '../../src/policy.js';
import { createDraft } from '../../src/features/report/service.js';
import { PEER_EXPECTED, peerSamplesDir, readPeerSample, type PeerExpectation } from '../helpers/peer-samples.js';
import { startPortal } from '../helpers/portal.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;

/** One of each way of reading: JMRP two levels deep, SpamCop inline, bare X-ARF v4 JSON, draft ARF, ARF in multipart/mixed, bare CR, X-XARF PLAIN. */
const HANDFUL: Array<[file: string, contentType: string]> = [
  ['ab--hotmail.old.0.eml', 'message/rfc822'],
  ['ab--spamcop.0.eml', 'message/rfc822'],
  ['xspec--messaging-spam.json', 'application/json'],
  ['earf--example1.msg', 'message/rfc822'],
  ['ab--01_marf.old.21.eml', 'multipart/mixed'],
  ['sis--mac-arf-01.eml', 'message/rfc822'],
  ['aio--Blocklistde_Example_1.eml', 'message/rfc822'],
];

const dir = peerSamplesDir();
const expected = (file: string): PeerExpectation => {
  const e = PEER_EXPECTED[file];
  if (!e || 'refused' in e) throw new Error(`no expectation for ${file}`);
  return e;
};

describe('the format in the summary staff see', () => {
  it('is English on the staff evidence view (summary with english: true), escaped, and absent from summaries stored before issue 15', async () => {
    const base = { sourceIp: '203.0.113.10', pool: 'normal', ourHost: null, handoffIndex: -1, hops: [], receivedCount: 0 };
    const staff = await ejs.renderFile('views/report/summary.ejs', { t: translator('ko'), english: true, s: { ...base, format: 'jmrp', reportedDomain: 'shop.example.com' } });
    assert.match(staff, /Read as<\/dt><dd class="format">Microsoft JMRP complaint<\/dd>/);
    assert.match(staff, /Reported domain<\/dt><dd>shop.example.com<\/dd>/);
    const zh = await ejs.renderFile('views/report/summary.ejs', { t: translator('zh-TW'), s: { ...base, format: 'xarf-json' } });
    assert.match(zh, /讀取格式<\/dt><dd class="format">X-ARF 回報（JSON）<\/dd>/);
    const odd = await ejs.renderFile('views/report/summary.ejs', { t: translator('en'), s: { ...base, format: '<b>x</b>' } });
    assert.match(odd, /&lt;b&gt;x&lt;\/b&gt;/);
    const old = await ejs.renderFile('views/report/summary.ejs', { t: translator('en'), s: base });
    assert.doesNotMatch(old, /Read as|Reported domain/);
  });
});

describe('peer samples through POST /api/v1/reports', { skip: dir ? false : 'peer samples not found (set PEER_SAMPLES_DIR, or put them in ../shared/peer-samples)' }, () => {
  let portal: Portal;
  let token: string;
  before(async () => {
    const ips = HANDFUL.map(([file]) => expected(file).sourceIp);
    const roomy = { max: 1_000_000, windowMinutes: 1 };
    portal = await startPortal({
      policy: (p: Policy): Policy => ({
        ...p,
        rateLimits: Object.fromEntries(Object.keys(p.rateLimits).map((k) => [k, roomy])) as Policy['rateLimits'],
        network: { ...p.network, pools: { ...p.network.pools, relay: ips.map((ip) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`)) } },
      }),
    });
    token = await portal.ctx.apiTokens.create('peer-desk');
  });
  after(() => portal?.stop());

  for (const [file, type] of HANDFUL) {
    it(`${file} is read as ${expected(file).format}`, async () => {
      const want = expected(file);
      const res = await request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${token}`).set('Content-Type', type).send(type === 'application/json' ? readPeerSample(dir!, file).toString('utf8') : readPeerSample(dir!, file)); // superagent would re-encode a Buffer as JSON
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(res.body.parsed.sourceIp, want.sourceIp);
      assert.equal(res.body.parsed.feedbackType, want.feedbackType);
      assert.equal(res.body.parsed.mailFrom, want.mailFrom);
      assert.equal(res.body.parsed.messageId, want.messageId);
      assert.equal(res.body.parsed.reportedDomain, want.reportedDomain);
      assert.equal(res.body.parsed.format, want.format);
      const stored = JSON.parse((await portal.ctx.requests.get(res.body.id))!.parsed!);
      assert.equal(stored.format, want.format);
      assert.equal(stored.reportedDomain, want.reportedDomain);
      assert.equal(stored.pool, 'relay');
      assert.ok(Array.isArray(stored.customer.feedbackIds) && Array.isArray(stored.customer.dkim));
    });
  }

  it('refuses a sample that names no address of ours with 422 NotOurMail', async () => {
    const res = await request(portal.app).post('/api/v1/reports').set('Authorization', `Bearer ${token}`).set('Content-Type', 'message/rfc822').send(readPeerSample(dir!, 'sis--bsd-arf-26.eml'));
    assert.equal(res.status, 422);
    assert.equal(res.body.code, 'NotOurMail');
  });

  it('shows the reporter how the sample was read in the preview', async () => {
    const id = await createDraft(portal.ctx, { email: 'reporter@example.org', category: 'spam', comment: '', sample: readPeerSample(dir!, 'ab--spamcop.0.eml') });
    const page = await request(portal.app).get(`/report/preview/${id}`).expect(200);
    assert.match(page.text, /Read as<\/dt><dd class="format">SpamCop report<\/dd>/);
    const ko = await request(portal.app).get(`/report/preview/${id}`).set('Accept-Language', 'ko').expect(200);
    assert.match(ko.text, /읽은 형식<\/dt><dd class="format">SpamCop 보고서<\/dd>/);
  });
});
