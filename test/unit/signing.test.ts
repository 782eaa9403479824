import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SigningKeyError, publicKeyPem, sign, signatureFromHeader, signatureHeader, signingKeyFrom, verify, verifyAsync } from '../../src/domain/signing.js';

const SECRET = 'a-shared-secret-of-at-least-32-characters!!';
const body = Buffer.from(JSON.stringify({ version: 7, generatedAt: '2030-01-01T00:00:00.000Z', blocklist: [{ cidr: '198.51.100.0/24' }] }));

describe('snapshot signing', () => {
  it('signs and verifies the exact bytes, and refuses a body changed by one byte', () => {
    const key = signingKeyFrom({ secret: SECRET });
    const signature = sign(body, key);
    assert.equal(Buffer.from(signature, 'base64').length, 64);
    assert.equal(verify(body, signature, publicKeyPem(key)), true);
    const tampered = Buffer.from(body);
    tampered[tampered.indexOf('1'.charCodeAt(0))] = '2'.charCodeAt(0);
    assert.equal(verify(tampered, signature, publicKeyPem(key)), false);
    assert.equal(verify(Buffer.concat([body, Buffer.from(' ')]), signature, publicKeyPem(key)), false, 'trailing white space counts');
  });

  it('refuses a signature by another key, and garbage signatures, without throwing', () => {
    const ours = signingKeyFrom({ secret: SECRET });
    const theirs = signingKeyFrom({ secret: `${SECRET}-other` });
    assert.equal(verify(body, sign(body, theirs), publicKeyPem(ours)), false);
    for (const bad of ['', 'not base64 !', Buffer.alloc(64).toString('base64'), sign(body, ours).slice(0, 40)]) {
      assert.equal(verify(body, bad, publicKeyPem(ours)), false, bad);
    }
    assert.equal(verify(body, sign(body, ours), 'not a key'), false);
  });

  it('derives the same key from the same secret on every instance, and a different one from another secret', () => {
    const a = publicKeyPem(signingKeyFrom({ secret: SECRET }));
    const b = publicKeyPem(signingKeyFrom({ secret: SECRET, snapshotSigningKey: '  ' }));
    assert.equal(a, b);
    assert.notEqual(a, publicKeyPem(signingKeyFrom({ secret: `${SECRET}x` })));
    assert.match(a, /^-----BEGIN PUBLIC KEY-----\n[A-Za-z0-9+/=\n]+-----END PUBLIC KEY-----\n$/);
  });

  it('reads SNAPSHOT_SIGNING_KEY as a base64 32-byte seed, whatever the secret', () => {
    const seed = randomBytes(32).toString('base64');
    const a = signingKeyFrom({ snapshotSigningKey: seed, secret: SECRET });
    const b = signingKeyFrom({ snapshotSigningKey: seed, secret: 'another secret entirely, also long enough' });
    assert.equal(publicKeyPem(a), publicKeyPem(b));
    assert.equal(verify(body, sign(body, a), publicKeyPem(b)), true);
  });

  it('reads SNAPSHOT_SIGNING_KEY as a PKCS#8 PEM, also with its newlines written as \\n', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const key = signingKeyFrom({ snapshotSigningKey: pem, secret: SECRET });
    const spki = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.equal(publicKeyPem(key), spki);
    assert.equal(verify(body, sign(body, key), spki), true);
    const oneLine = signingKeyFrom({ snapshotSigningKey: pem.replace(/\n/g, '\\n'), secret: SECRET });
    assert.equal(publicKeyPem(oneLine), spki);
  });

  it('refuses a key of another type, a short seed and unreadable text with a clear error', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.throws(() => signingKeyFrom({ snapshotSigningKey: rsa, secret: SECRET }), (e: unknown) => e instanceof SigningKeyError && /Ed25519/.test(e.message));
    assert.throws(() => signingKeyFrom({ snapshotSigningKey: randomBytes(16).toString('base64'), secret: SECRET }), SigningKeyError);
    assert.throws(() => signingKeyFrom({ snapshotSigningKey: 'hello world', secret: SECRET }), SigningKeyError);
    assert.throws(() => signingKeyFrom({ snapshotSigningKey: '-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----', secret: SECRET }), SigningKeyError);
  });

  it('verifies off the main thread with the same answers', async () => {
    const key = signingKeyFrom({ secret: SECRET });
    const pem = publicKeyPem(key);
    assert.equal(await verifyAsync(body, sign(body, key), pem), true);
    assert.equal(await verifyAsync(Buffer.concat([body, Buffer.from('x')]), sign(body, key), pem), false);
    assert.equal(await verifyAsync(body, 'garbage', pem), false);
    assert.equal(await verifyAsync(body, sign(body, key), 'not a key'), false);
  });

  it('writes and reads the X-Snapshot-Signature header value', () => {
    const key = signingKeyFrom({ secret: SECRET });
    const header = signatureHeader(body, key);
    assert.match(header, /^ed25519 [A-Za-z0-9+/]{86}==$/);
    assert.equal(signatureFromHeader(header), sign(body, key));
    for (const bad of [null, undefined, '', 'rsa abc=', 'ed25519', 'ed25519 !!!']) assert.equal(signatureFromHeader(bad), null, String(bad));
  });

  it('verifies any body it signed and no other (property)', () => {
    const key = signingKeyFrom({ secret: SECRET });
    const pem = publicKeyPem(key);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.uint8Array({ minLength: 1, maxLength: 256 }), (a, b) => {
        const sig = sign(Buffer.from(a), key);
        assert.equal(verify(Buffer.from(a), sig, pem), true);
        if (!Buffer.from(a).equals(Buffer.from(b))) assert.equal(verify(Buffer.from(b), sig, pem), false);
      }),
      { numRuns: 200 },
    );
  });
});
