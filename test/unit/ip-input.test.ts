import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseAddress } from '../../src/domain/ip.js';
import { normalizeIpInput } from '../../src/domain/ip-input.js';
import { publicIp } from '../../src/features/delist/schema.js';

describe('normalizeIpInput: IME input in an IP address field', () => {
  it('makes full-width digits, full stops and colons ASCII', () => {
    assert.equal(normalizeIpInput('１９８．５１．１００．６０'), '198.51.100.60');
    assert.equal(normalizeIpInput('２００１：ｄｂ８：：７'), '2001:db8::7');
    assert.equal(normalizeIpInput('２００１：ＤＢ８：：７'), '2001:DB8::7');
  });

  it('reads the ideographic full stop (U+3002) and its half-width form (U+FF61) as a dot', () => {
    assert.equal(normalizeIpInput('198。51。100。60'), '198.51.100.60');
    assert.equal(normalizeIpInput('198｡51｡100｡60'), '198.51.100.60');
    assert.equal(normalizeIpInput('１９８。５１．100｡60'), '198.51.100.60');
  });

  it('trims ideographic spaces and leaves plain ASCII input as it is', () => {
    assert.equal(normalizeIpInput('\u3000198.51.100.60\u3000'), '198.51.100.60');
    fc.assert(fc.property(fc.stringMatching(/^[0-9a-f.:\/]{1,60}$/), (s) => normalizeIpInput(s) === s));
  });

  it('does not make an address of what was not one, and leaves overlong input to the length check', () => {
    assert.throws(() => parseAddress(normalizeIpInput('１９８．５１．１００')));
    const long = '１'.repeat(300);
    assert.equal(normalizeIpInput(long), long);
  });

  it('is what the public IP field (delist, lookup) validates', () => {
    assert.deepEqual(publicIp.safeParse('１９８．５１．１００．６０'), { success: true, data: '198.51.100.60' });
    assert.deepEqual(publicIp.safeParse('198。51。100。60'), { success: true, data: '198.51.100.60' });
    assert.deepEqual(publicIp.safeParse('２００１：ｄｂ８：：７'), { success: true, data: '2001:db8::7' });
    const priv = publicIp.safeParse('１０．０．０．１');
    assert.equal(priv.success, false);
    assert.equal(priv.error?.issues[0]?.message, 'errors.ip.special.private');
    assert.equal(publicIp.safeParse('　').error?.issues[0]?.message, 'errors.ip.required');
  });
});
