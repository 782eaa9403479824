import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { countingAddress, countingDomain, countingDomainOf } from '../../src/domain/email-address.js';

const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const domain = fc.tuple(label, fc.constantFrom('com', 'org', 'net', 'example')).map(([a, b]) => `${a}.${b}`).filter((d) => d !== 'gmail.com' && d !== 'googlemail.com');
/** A plain local part without a sub-address: letters, digits, dots inside, no `+`. */
const base = fc.stringMatching(/^[a-z0-9]([a-z0-9._-]{0,15}[a-z0-9])?$/);
const tag = fc.stringMatching(/^[a-z0-9.+_-]{0,12}$/);
const mixCase = (s: string, flips: boolean[]) => [...s].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c)).join('');

describe('email addresses as counted', () => {
  it('folds case, drops a +tag, and applies the Gmail rules (dots, googlemail.com)', () => {
    assert.equal(countingAddress('Alice@Example.COM'), 'alice@example.com');
    assert.equal(countingAddress('alice+news@example.com'), 'alice@example.com');
    assert.equal(countingAddress('alice+a+b@example.com'), 'alice@example.com');
    assert.equal(countingAddress('a.l.i.c.e@example.com'), 'a.l.i.c.e@example.com', 'dots count where the provider is unknown');
    assert.equal(countingAddress('A.Li.Ce+x@GMail.com'), 'alice@gmail.com');
    assert.equal(countingAddress('a.lice@googlemail.com'), 'alice@gmail.com');
    assert.equal(countingAddress(' bob@example.org. '), 'bob@example.org');
    assert.equal(countingAddress('+only@example.com'), '+only@example.com', 'a local part that is all tag stays as it is');
    assert.equal(countingAddress('"a+b"@example.com'), '"a+b"@example.com', 'a quoted local part is one name');
    assert.equal(countingDomain('GoogleMail.com.'), 'gmail.com');
    assert.equal(countingDomainOf('x@Sub.Example.ORG'), 'sub.example.org');
    assert.equal(countingDomainOf('no-at-sign'), '');
  });

  it('is idempotent and ignores case', () => {
    fc.assert(
      fc.property(base, tag, fc.oneof(domain, fc.constantFrom('gmail.com', 'googlemail.com', 'GMail.com')), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (b, t, d, flips) => {
        const address = `${b}${t ? `+${t}` : ''}@${d}`;
        const once = countingAddress(address);
        assert.equal(countingAddress(once), once);
        assert.equal(countingAddress(mixCase(address, flips)), once);
      }),
    );
  });

  it('counts every +tag variant of one mailbox as that mailbox', () => {
    fc.assert(
      fc.property(base, tag, domain, (b, t, d) => {
        assert.equal(countingAddress(`${b}+${t}@${d}`), countingAddress(`${b}@${d}`));
      }),
    );
  });

  it('counts every dotted spelling of a Gmail mailbox, at either domain, as one', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9]{1,12}$/), fc.array(fc.nat(), { maxLength: 4 }), fc.constantFrom('gmail.com', 'googlemail.com'), (b, cuts, d) => {
        let dotted = b;
        for (const c of cuts) {
          const at = 1 + (c % Math.max(1, dotted.length - 1));
          if (at < dotted.length) dotted = `${dotted.slice(0, at)}.${dotted.slice(at)}`;
        }
        assert.equal(countingAddress(`${dotted}@${d}`), `${b}@gmail.com`);
      }),
    );
  });

  it('keeps different mailboxes apart', () => {
    fc.assert(
      fc.property(base, base, domain, domain, (a, b, d1, d2) => {
        fc.pre(a !== b || d1 !== d2);
        assert.notEqual(countingAddress(`${a}@${d1}`), countingAddress(`${b}@${d2}`));
      }),
    );
  });
});
