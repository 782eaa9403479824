import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { customerKeys, domainChain, feedbackIdParts, findCustomer, resolveCustomer, SIGNAL_ORDER, type CustomerSignals, type DirectoryAnswers } from '../../src/domain/customer.js';

/** A report's signals: nothing, unless given. */
const signals = (s: { header?: CustomerSignals['tenantHeader']; feedbackIds?: string[]; dkim?: CustomerSignals['customer']['dkim']; mailFromDomain?: string | null; fromDomain?: string | null; mailFrom?: string | null } = {}): CustomerSignals => ({
  tenantHeader: s.header ?? null,
  customer: { feedbackIds: s.feedbackIds ?? [], dkim: s.dkim ?? [], mailFromDomain: s.mailFromDomain ?? null, fromDomain: s.fromDomain ?? null },
  mailFrom: s.mailFrom ?? null,
});
const dir = (d: { feedbackIds?: Record<string, string>; domains?: Record<string, string>; verp?: Array<{ tenant: string; pattern: string }> } = {}): DirectoryAnswers => ({
  feedbackIds: new Map(Object.entries(d.feedbackIds ?? {})),
  domains: new Map(Object.entries(d.domains ?? {})),
  verp: d.verp ?? [],
});
const dkim = (domain: string, identity: string | null = null) => ({ domain, identity, selector: 's1' });

/** A directory where each signal names its own tenant, so the winner shows which signal ranks first. */
const EVERYTHING = {
  signals: signals({ header: { tenant: 'hdr', verified: true }, feedbackIds: ['camp1:cust9:x:fbid-t'], dkim: [dkim('dk.example')], mailFrom: 'bounce-123@verp.example', mailFromDomain: 'verp.example', fromDomain: 'from.example' }),
  answers: dir({ feedbackIds: { 'fbid-t': 'fb' }, domains: { 'dk.example': 'dk', 'verp.example': 'mf', 'from.example': 'fr' }, verp: [{ tenant: 'vp', pattern: 'bounce-*@verp.example' }] }),
};

describe('findCustomer: which signal names the tenant, and how sure that is', () => {
  it('takes our DKIM-verified tenant header first, with verified confidence, whatever else names another tenant', () => {
    assert.deepEqual(findCustomer(EVERYTHING.signals, EVERYTHING.answers), { tenant: 'hdr', signal: 'tenant-header-verified', confidence: 'verified', detail: 'our tenant header, covered by our verifying DKIM signature' });
  });

  it('finds the tenant from a registered Feedback-ID part (high), matching any colon-separated part', () => {
    for (const header of ['camp1:cust9:x:fbid-t', 'fbid-t', ' campaign : FBID-T ', 'a:b:c:fbid-t:']) {
      const m = findCustomer(signals({ feedbackIds: [header] }), dir({ feedbackIds: { 'fbid-t': 'acme' } }));
      assert.deepEqual(m && [m.tenant, m.signal, m.confidence], ['acme', 'feedback-id', 'high'], header);
    }
    assert.equal(findCustomer(signals({ feedbackIds: ['camp1:fbid-tx:x:y'] }), dir({ feedbackIds: { 'fbid-t': 'acme' } })), null, 'a part matches whole, never as a prefix');
  });

  it('finds the tenant from a VERP Return-Path (high)', () => {
    const m = findCustomer(signals({ mailFrom: '<Bounce-77@verp.example>' }), dir({ verp: [{ tenant: 'acme', pattern: 'bounce-*@verp.example' }] }));
    assert.deepEqual(m && [m.tenant, m.signal, m.confidence], ['acme', 'verp', 'high']);
    assert.match(m!.detail, /bounce-77@verp\.example matches bounce-\*@verp\.example/);
  });

  it('finds the tenant from a DKIM d= or i= domain (medium), subdomains included, the most specific registration first', () => {
    const answers = dir({ domains: { 'shop.example': 'acme', 'eu.shop.example': 'acme-eu' } });
    assert.deepEqual(findCustomer(signals({ dkim: [dkim('mail.shop.example')] }), answers)?.tenant, 'acme');
    assert.match(findCustomer(signals({ dkim: [dkim('mail.shop.example')] }), answers)!.detail, /d=mail\.shop\.example \(registered: shop\.example\)/);
    assert.deepEqual(findCustomer(signals({ dkim: [dkim('x.eu.shop.example')] }), answers)?.tenant, 'acme-eu');
    const byIdentity = findCustomer(signals({ dkim: [dkim('esp.example', '@news.shop.example')] }), answers);
    assert.deepEqual(byIdentity && [byIdentity.tenant, byIdentity.signal, byIdentity.confidence], ['acme', 'dkim-domain', 'medium']);
    assert.equal(findCustomer(signals({ dkim: [dkim('notshop.example')] }), answers), null, 'a suffix that is not a parent domain does not count');
  });

  it('falls back to the 5321.MailFrom domain (medium), then the 5322.From domain (low), then an unverified header (low)', () => {
    const answers = dir({ domains: { 'shop.example': 'acme' } });
    const mf = findCustomer(signals({ mailFromDomain: 'bounces.shop.example' }), answers);
    assert.deepEqual(mf && [mf.signal, mf.confidence], ['mail-from-domain', 'medium']);
    const fromMailFrom = findCustomer(signals({ mailFrom: 'x@bounces.shop.example' }), answers);
    assert.equal(fromMailFrom?.signal, 'mail-from-domain', 'the domain of the 5321.MailFrom when the parser gave no mailFromDomain');
    const fr = findCustomer(signals({ fromDomain: 'Shop.Example.' }), answers);
    assert.deepEqual(fr && [fr.signal, fr.confidence], ['from-domain', 'low']);
    const claim = findCustomer(signals({ header: { tenant: 'someone', verified: false } }), dir());
    assert.deepEqual(claim && [claim.tenant, claim.signal, claim.confidence], ['someone', 'tenant-header-claimed', 'low']);
  });

  it('ranks the signals in the documented order: taking away the strongest each time shows the next', () => {
    const { signals: all, answers } = EVERYTHING;
    const without = (patch: Partial<CustomerSignals['customer']> & { tenantHeader?: null; mailFrom?: null }) => ({
      tenantHeader: 'tenantHeader' in patch ? null : all.tenantHeader,
      mailFrom: 'mailFrom' in patch ? null : all.mailFrom,
      customer: { ...all.customer, ...Object.fromEntries(Object.entries(patch).filter(([k]) => k in all.customer)) },
    });
    const found = (s: CustomerSignals) => {
      const m = findCustomer(s, answers);
      return m && `${m.tenant}/${m.signal}`;
    };
    assert.equal(found(all), 'hdr/tenant-header-verified');
    // Feedback-ID and VERP are of equal strength (high) and name different tenants here: no answer.
    assert.equal(found(without({ tenantHeader: null })), null);
    assert.equal(found(without({ tenantHeader: null, mailFrom: null })), 'fb/feedback-id');
    assert.equal(found(without({ tenantHeader: null, feedbackIds: [] })), 'vp/verp');
    // DKIM and the MailFrom domain are both medium and name dk and mf: no answer; each alone decides.
    assert.equal(found(without({ tenantHeader: null, feedbackIds: [], mailFrom: null })), null);
    assert.equal(found(without({ tenantHeader: null, feedbackIds: [], mailFrom: null, mailFromDomain: null })), 'dk/dkim-domain');
    assert.equal(found(without({ tenantHeader: null, feedbackIds: [], mailFrom: null, dkim: [] })), 'mf/mail-from-domain');
    assert.equal(found(without({ tenantHeader: null, feedbackIds: [], mailFrom: null, dkim: [], mailFromDomain: null })), 'fr/from-domain');
    assert.equal(found(without({ feedbackIds: [], mailFrom: null, dkim: [], mailFromDomain: null, fromDomain: null })), 'hdr/tenant-header-verified');
    assert.deepEqual(SIGNAL_ORDER, ['tenant-header-verified', 'feedback-id', 'verp', 'dkim-domain', 'mail-from-domain', 'from-domain', 'tenant-header-claimed']);
  });

  it('lets a stronger signal win over a weaker one naming another tenant, and says so', () => {
    const d = resolveCustomer(signals({ feedbackIds: ['x:acme-id'], fromDomain: 'other.example', header: { tenant: 'forged', verified: false } }), dir({ feedbackIds: { 'acme-id': 'acme' }, domains: { 'other.example': 'other' } }));
    assert.equal(d.match?.tenant, 'acme');
    assert.match(d.reason, /weaker signals naming other, forged are outweighed/);
    assert.equal(d.evidence.length, 3);
  });

  it('gives no answer, with the reason, when signals of the same strength name different tenants', () => {
    const twoFb = resolveCustomer(signals({ feedbackIds: ['a:one-id', 'b:two-id'] }), dir({ feedbackIds: { 'one-id': 'one', 'two-id': 'two' } }));
    assert.equal(twoFb.match, null);
    assert.match(twoFb.reason, /conflict: signals of high confidence name different tenants: one \(Feedback-ID part one-id\) and two \(Feedback-ID part two-id\)/);
    const fbVsVerp = resolveCustomer(signals({ feedbackIds: ['one-id'], mailFrom: 'b-1@v.example' }), dir({ feedbackIds: { 'one-id': 'one' }, verp: [{ tenant: 'two', pattern: 'b-*@v.example' }] }));
    assert.equal(fbVsVerp.match, null);
    const twoDkim = resolveCustomer(signals({ dkim: [dkim('a.example'), dkim('b.example')], fromDomain: 'a.example' }), dir({ domains: { 'a.example': 'one', 'b.example': 'two' } }));
    assert.equal(twoDkim.match, null, 'a medium conflict is not settled by a weaker From that agrees with one side');
    assert.match(twoDkim.reason, /medium confidence/);
    // Signals of one strength naming the same tenant are no conflict.
    assert.equal(findCustomer(signals({ dkim: [dkim('a.example'), dkim('mail.a.example')] }), dir({ domains: { 'a.example': 'one' } }))?.tenant, 'one');
  });

  it('answers null with a reason when nothing names a tenant, and ignores malformed values', () => {
    const none = resolveCustomer(signals({ feedbackIds: ['nobody'], dkim: [dkim('x.example')], fromDomain: 'y.example', mailFrom: 'z@y.example' }), dir());
    assert.equal(none.match, null);
    assert.match(none.reason, /no signal names a tenant/);
    const junk = signals({ header: { tenant: 'bad id!', verified: true }, dkim: [dkim('not a domain'), dkim('')], fromDomain: '..', mailFrom: 'a@b@c.example', mailFromDomain: '1' });
    assert.equal(findCustomer(junk, dir({ domains: { 'c.example': 'x' } })), null);
  });

  it('bounds what one report makes the directory look up', () => {
    const many = signals({ feedbackIds: Array.from({ length: 500 }, (_, i) => `${'p:'.repeat(50)}id${i}`), dkim: Array.from({ length: 500 }, (_, i) => dkim(`d${i}.a.b.c.d.e.f.example`)) });
    const keys = customerKeys(many);
    assert.ok(keys.feedbackIdParts.length <= 10 * 8, `${keys.feedbackIdParts.length} parts`);
    assert.ok(keys.domains.length <= 20 * 8 * 2 + 4, `${keys.domains.length} domains`);
  });

  it('lists each domain with its parents down to two labels, and splits Feedback-IDs on colons', () => {
    assert.deepEqual(domainChain('a.b.shop.example'), ['a.b.shop.example', 'b.shop.example', 'shop.example']);
    assert.deepEqual(feedbackIdParts('CampaignX:Cust1::SENDER '), ['campaignx', 'cust1', 'sender']);
  });

  it('never throws and always answers a tenant the signals named (property)', () => {
    const str = fc.string({ maxLength: 40 });
    fc.assert(
      fc.property(
        fc.record({ header: fc.option(fc.record({ tenant: str, verified: fc.boolean() })), feedbackIds: fc.array(str, { maxLength: 4 }), dkim: fc.array(fc.record({ domain: str, identity: fc.option(str), selector: str }), { maxLength: 3 }), mailFromDomain: fc.option(str), fromDomain: fc.option(str), mailFrom: fc.option(str) }),
        fc.dictionary(fc.constantFrom('shop.example', 'a.example', 'x'), fc.constantFrom('t1', 't2')),
        (s, domains) => {
          const d = resolveCustomer(signals({ ...s, header: s.header }), dir({ domains }));
          if (d.match) assert.ok(d.evidence.some((e) => e.tenant === d.match!.tenant && e.signal === d.match!.signal));
          else assert.ok(d.reason.length > 0);
        },
      ),
    );
  });
});
