import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_FEEDBACK_WEIGHTS, feedbackWeight, weighTrust } from '../../src/domain/feedback-weight.js';
import { readFileSync } from 'node:fs';
import { DEFAULT_POLICY_FILE, loadPolicy, policySchema } from '../../src/policy.js';

const weights = loadPolicy().abuse.feedbackWeights;

describe('feedback types weigh differently', () => {
  it('counts abuse-like types and complaints without a type; not-spam, opt-out, auth-failure and other never', () => {
    for (const t of ['abuse', 'fraud', 'virus', 'spam', 'Abuse', ' ABUSE ', 'spam-jmrp', 'spam-spamcop', 'phishing', 'malware']) assert.equal(feedbackWeight(weights, t).weight, 1, t);
    for (const t of ['not-spam', 'opt-out', 'auth-failure', 'other', 'Not-Spam']) assert.equal(feedbackWeight(weights, t).weight, 0, t);
    assert.deepEqual(feedbackWeight(weights, null), { type: '(none)', weight: 1, rule: 'no-type' });
    assert.deepEqual(feedbackWeight(weights, '  '), { type: '(none)', weight: 1, rule: 'no-type' });
  });

  it('weighs a type the policy does not list as "other"', () => {
    assert.deepEqual(feedbackWeight(weights, 'dmarc'), { type: 'dmarc', weight: 0, rule: 'unlisted' });
    assert.equal(feedbackWeight({ ...weights, other: 1 }, 'dmarc').weight, 1);
    assert.equal(feedbackWeight({ abuse: 1 }, 'dmarc').weight, 0, 'no entry for other: 0');
    assert.equal(feedbackWeight({ abuse: 0 }, null).weight, 0, 'a policy may stop plain complaints from counting');
    assert.equal(feedbackWeight(weights, 'constructor').rule, 'unlisted', 'no prototype keys');
  });

  it('is the policy file\'s list, with the defaults in code matching it', () => {
    assert.deepEqual({ ...weights }, { ...DEFAULT_FEEDBACK_WEIGHTS });
  });

  it('makes a zero-weight report not count, saying why, and leaves every other decision alone', () => {
    const trusted = { counts: true, reporterId: 'partner:Alpha' };
    assert.deepEqual(weighTrust(weights, 'not-spam', trusted), { ...trusted, counts: false, weightNote: 'its feedback type "not-spam" weighs 0 in abuse.feedbackWeights' });
    assert.match(weighTrust(weights, 'x-unknown', trusted).weightNote!, /not listed in abuse\.feedbackWeights and weighs as "other"/);
    assert.equal(weighTrust(weights, 'abuse', trusted), trusted);
    const untrusted = { counts: false, reporterId: null };
    assert.equal(weighTrust(weights, 'not-spam', untrusted), untrusted, 'an untrusted report keeps its own reasons');
  });
});

describe('abuse.feedbackWeights in a policy file', () => {
  const raw = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8')) as { abuse: Record<string, unknown> };
  const parse = (weights: unknown) => policySchema.safeParse({ ...raw, abuse: { ...raw.abuse, feedbackWeights: weights } });

  it('takes 0 or 1 per lower-case type, and defaults to the list in code when the file has none', () => {
    assert.equal(parse({ abuse: 1, 'not-spam': 0 }).success, true);
    const { feedbackWeights: _dropped, ...abuse } = raw.abuse;
    const defaulted = policySchema.parse({ ...raw, abuse });
    assert.deepEqual(defaulted.abuse.feedbackWeights, { ...DEFAULT_FEEDBACK_WEIGHTS });
  });

  it('refuses other weights and type names that are not lower-case tokens', () => {
    for (const bad of [{ abuse: 0.5 }, { abuse: 2 }, { abuse: -1 }, { Abuse: 1 }, { 'not spam': 0 }, { abuse: '1' }]) assert.equal(parse(bad).success, false, JSON.stringify(bad));
  });
});
