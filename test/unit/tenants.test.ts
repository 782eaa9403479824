import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { contactEmailOf, domainOf, feedbackIdOf, TenantInputError, tenantIdOf, tenantNameOf, verpMatches, verpPatternOf } from '../../src/domain/tenants.js';

const refuses = (fn: () => unknown, field: string, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof TenantInputError && err.field === field && message.test(err.message), `${field} ${message}`);

describe('the tenant directory validates every value hard', () => {
  it('takes tenant ids of 1–64 letters, digits, dots, dashes, underscores', () => {
    assert.equal(tenantIdOf(' Acme_1.eu-west '), 'Acme_1.eu-west');
    refuses(() => tenantIdOf(''), 'tenant', /Give a tenant id/);
    refuses(() => tenantIdOf('a'.repeat(65)), 'tenant', /1–64 letters/);
    refuses(() => tenantIdOf('acme corp'), 'tenant', /not a tenant id/);
    refuses(() => tenantIdOf(42), 'tenant', /Give a tenant id/);
  });

  it('takes names up to 200 characters without control characters', () => {
    assert.equal(tenantNameOf('  Acme   Corp '), 'Acme Corp');
    refuses(() => tenantNameOf('x'.repeat(201)), 'name', /at most 200/);
    refuses(() => tenantNameOf('a\u0000b'), 'name', /control/);
  });

  it('takes domain names in canonical form (lower case, A-labels, no trailing dot)', () => {
    assert.equal(domainOf('Mail.Shop.Example.'), 'mail.shop.example');
    assert.equal(domainOf('bücher.example'), 'xn--bcher-kva.example');
    assert.equal(domainOf('a-b.xn--p1ai'), 'a-b.xn--p1ai');
    refuses(() => domainOf(''), 'domain', /Give a domain/);
    refuses(() => domainOf('localhost'), 'domain', /at least two labels/);
    refuses(() => domainOf('203.0.113.5'), 'domain', /an address/);
    refuses(() => domainOf('[203.0.113.5]'), 'domain', /an address/);
    refuses(() => domainOf('-shop.example'), 'domain', /dash/);
    refuses(() => domainOf('shop_1.example'), 'domain', /label/);
    refuses(() => domainOf('shop..example'), 'domain', /label/);
    refuses(() => domainOf('shop.example1'), 'domain', /top-level/);
    refuses(() => domainOf(`${'a'.repeat(64)}.example`), 'domain', /1–63/);
    refuses(() => domainOf(`${'abcdefghi.'.repeat(26)}example`), 'domain', /253/);
    refuses(() => domainOf('x'.repeat(100_000)), 'domain', /at most 253/);
    refuses(() => domainOf('a b.example'), 'domain', /not a domain name/);
  });

  it('never echoes more than a short printable quote of a hostile value', () => {
    try {
      domainOf(`<script>${'x'.repeat(200)}\u0007.example`);
      assert.fail('accepted');
    } catch (err) {
      assert.ok((err as Error).message.length < 200, (err as Error).message);
      assert.doesNotMatch((err as Error).message, /\u0007/);
    }
  });

  it('takes a Feedback-ID identifier as one colon-free part, in lower case', () => {
    assert.equal(feedbackIdOf(' Acme-Sender '), 'acme-sender');
    assert.equal(feedbackIdOf('cust.42_a+b=c/d'), 'cust.42_a+b=c/d');
    refuses(() => feedbackIdOf('camp:cust:x:sender'), 'feedbackId', /holds a colon/);
    refuses(() => feedbackIdOf('-lead'), 'feedbackId', /starting with a letter or digit/);
    refuses(() => feedbackIdOf('a'.repeat(65)), 'feedbackId', /1–64/);
    refuses(() => feedbackIdOf('two words'), 'feedbackId', /not a Feedback-ID/);
  });

  it('takes VERP patterns as address globs with * in the local part only', () => {
    assert.equal(verpPatternOf('<Bounce-*@Bounces.Shop.Example>'), 'bounce-*@bounces.shop.example');
    assert.equal(verpPatternOf('b+*-*@mail.shop.example'), 'b+*-*@mail.shop.example');
    refuses(() => verpPatternOf('bounce-*@*.shop.example'), 'verp', /not a domain name/);
    refuses(() => verpPatternOf('*@shop.example'), 'verp', /at least one fixed character/);
    refuses(() => verpPatternOf('bounce'), 'verp', /local-part@domain/);
    refuses(() => verpPatternOf('a@b@shop.example'), 'verp', /local-part@domain/);
    refuses(() => verpPatternOf('b%*@shop.example'), 'verp', /no % or/);
    refuses(() => verpPatternOf('b.*(x+)+@shop.example'), 'verp', /local part/);
    refuses(() => verpPatternOf(`${'b'.repeat(250)}@shop.example`), 'verp', /at most 254/);
  });

  it('matches a VERP pattern against a 5321.MailFrom as the store does (the whole address, * within the local part)', () => {
    assert.equal(verpMatches('bounce-*@bounces.shop.example', 'Bounce-1a2b@bounces.shop.example'), true);
    assert.equal(verpMatches('bounce-*@bounces.shop.example', 'bounce-@bounces.shop.example'), true);
    assert.equal(verpMatches('bounce-*@bounces.shop.example', 'bounce-1@bounces.shop.example.evil'), false);
    assert.equal(verpMatches('bounce-*@bounces.shop.example', 'xbounce-1@bounces.shop.example'), false);
    assert.equal(verpMatches('b.x-*@shop.example', 'b-x-1@shop.example'), false, 'a dot is a dot');
  });

  it('takes contact addresses', () => {
    assert.equal(contactEmailOf(' Abuse@Shop.Example '), 'abuse@shop.example');
    refuses(() => contactEmailOf('abuse'), 'email', /not an email/);
    refuses(() => contactEmailOf('abuse@localhost'), 'domain', /two labels/);
  });
});
