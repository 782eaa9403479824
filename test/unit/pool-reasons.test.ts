import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classify, type MessageFacts, type PoolAssignment, type PoolName } from '../../src/domain/pools.js';
import { poolReasonTexts } from '../../src/features/pools/reasons.js';
import { translator } from '../../src/i18n/index.js';
import { englishRuns } from '../helpers/english.js';

/**
 * Issue 16: the pool explainer's reasons are message keys (classify's `steps`), said in the reader's language. In
 * English they read as the classifier's own English reasons (which machine clients keep), for every kind of rule.
 */
const NOW = new Date('2025-06-01T12:00:00.000Z');
const facts = (over: Partial<MessageFacts> = {}): MessageFacts => ({
  tenant: 'contoso',
  senderDomain: 'mail.contoso.com',
  isNdr: false,
  spamVerdict: false,
  overSendingLimits: false,
  domainHasA: true,
  domainHasMx: true,
  forwarded: false,
  senderInAcceptedDomain: false,
  spfPass: false,
  dkimPassForSender: false,
  ...over,
});
/** As the public page passes them: no staff reason; no expiry (the English reasons write an ISO time, the page words). */
const assigned = (kind: 'tenant' | 'domain', key: string, pool: PoolName): PoolAssignment => ({ kind, key, pool, reason: '', source: 'staff', assignedAt: '2025-05-31T12:00:00.000Z', expiresAt: null });

const CASES: Array<[string, MessageFacts, PoolAssignment[]]> = [
  ['plain', facts(), []],
  ['every high-risk rule', facts({ isNdr: true, spamVerdict: true, overSendingLimits: true, domainHasA: false, domainHasMx: false }), [assigned('tenant', 'contoso', 'high-risk')]],
  ['no DNS, no domain', facts({ senderDomain: null, domainHasA: false, domainHasMx: false }), []],
  ['relay and normal assignments under high-risk', facts({ isNdr: true }), [assigned('domain', 'contoso.com', 'relay'), assigned('tenant', 'contoso', 'normal')]],
  ['relay over normal (a parent domain)', facts(), [assigned('domain', 'contoso.com', 'relay'), assigned('tenant', 'contoso', 'normal')]],
  ['normal assignment', facts(), [assigned('domain', 'mail.contoso.com', 'normal')]],
  ['forwarded, unverified', facts({ forwarded: true }), []],
  ['forwarded, unverified, high-risk', facts({ forwarded: true, spamVerdict: true }), []],
  ['forwarded, unverified, assignment', facts({ forwarded: true }), [assigned('tenant', 'contoso', 'normal')]],
  ['forwarded, SPF and DKIM', facts({ forwarded: true, spfPass: true, dkimPassForSender: true }), []],
  ['forwarded, accepted domain, relay assignment', facts({ forwarded: true, senderInAcceptedDomain: true }), [assigned('tenant', 'contoso', 'relay')]],
];

describe('the pool explainer\'s reasons as message keys', () => {
  for (const [name, f, assignments] of CASES) {
    it(`reads in English as the classifier's reasons: ${name}`, () => {
      const c = classify(f, assignments, NOW);
      assert.equal(c.steps.length, c.reasons.length);
      const english = poolReasonTexts(translator('en'), 'en', c.steps);
      // One wording differs on purpose: a rule that gave way is followed by its own sentence ("…. But …").
      assert.deepEqual(english.map((r) => r.replace(/\. But t/, ', but t')), c.reasons);
    });
  }

  it('says every reason in Korean and Chinese, with no English sentence and times in words', () => {
    const timed: PoolAssignment = { ...assigned('tenant', 'contoso', 'high-risk'), expiresAt: '2025-06-04T12:00:00.000Z' };
    for (const lang of ['ko', 'zh-TW'] as const) {
      const t = translator(lang);
      for (const [name, f, assignments] of [...CASES, ['timed', facts(), [timed]] as [string, MessageFacts, PoolAssignment[]]]) {
        const texts = poolReasonTexts(t, lang, classify(f, assignments, NOW).steps);
        for (const text of texts) {
          assert.ok(text && !text.includes('pools.reason'), `${lang} ${name}: ${text}`);
          assert.deepEqual(englishRuns(text), [], `${lang} ${name}: ${text}`);
          assert.doesNotMatch(text, /\d{4}-\d\d-\d\dT/, `${lang} ${name}: no ISO time`);
        }
      }
      const [timedText] = poolReasonTexts(t, lang, classify(facts(), [timed], NOW).steps);
      assert.match(timedText!, /2025/, `${lang}: the end of the assignment, in words`);
    }
  });
});
