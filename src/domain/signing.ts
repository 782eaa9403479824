/**
 * Ed25519 signatures over routing snapshots, so a routing engine can tell our snapshot (or its own cached copy of
 * it) from a tampered one. The server signs the exact bytes of the snapshot response body and sends
 * `X-Snapshot-Signature: ed25519 <base64>`; the public key (SPKI PEM) is served at GET /api/v1/routing/public-key.
 */
import { createHmac, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto';

/** Name of the response header carrying the signature, and the scheme written before it. */
export const SIGNATURE_HEADER = 'X-Snapshot-Signature';
export const SIGNATURE_SCHEME = 'ed25519';

/** Label of the seed derived from the shared secret when no key is configured. */
const DERIVATION_LABEL = 'snapshot-signing-key';

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export class SigningKeyError extends Error {
  readonly code = 'SIGNING_KEY_INVALID';
}

function fromSeed(seed: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
}

/**
 * The snapshot signing key: SNAPSHOT_SIGNING_KEY as a PKCS#8 PEM (literal "\n" accepted, as env files write it)
 * or a base64 32-byte seed; unset, a development key derived as HMAC-SHA256(secret, "snapshot-signing-key"), so
 * separately started development roles sign alike. Only local development gets that far without a key: loadConfig
 * requires SNAPSHOT_SIGNING_KEY of every role that serves snapshots anywhere else, so a deployed key is never
 * derived from SESSION_SECRET (whoever knows one must not be able to sign). Throws SigningKeyError for anything else.
 */
export function signingKeyFrom(opts: { snapshotSigningKey?: string | undefined; secret: string }): KeyObject {
  const configured = opts.snapshotSigningKey?.trim();
  if (!configured) {
    if (!opts.secret) throw new SigningKeyError('No SNAPSHOT_SIGNING_KEY and no secret to derive one from.');
    return fromSeed(createHmac('sha256', opts.secret).update(DERIVATION_LABEL).digest());
  }
  if (configured.includes('-----BEGIN')) {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: configured.replace(/\\n/g, '\n'), format: 'pem' });
    } catch {
      throw new SigningKeyError('SNAPSHOT_SIGNING_KEY is not a readable PEM private key.');
    }
    if (key.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`SNAPSHOT_SIGNING_KEY must be an Ed25519 key, not ${key.asymmetricKeyType ?? 'unknown'}.`);
    return key;
  }
  const seed = /^[A-Za-z0-9+/]+={0,2}$/.test(configured) ? Buffer.from(configured, 'base64') : Buffer.alloc(0);
  if (seed.length !== 32) throw new SigningKeyError('SNAPSHOT_SIGNING_KEY must be a PKCS#8 PEM or a base64 32-byte Ed25519 seed.');
  return fromSeed(seed);
}

/** The base64 Ed25519 signature of the bytes (a string is signed as its UTF-8 bytes). */
export function sign(body: Buffer | Uint8Array | string, key: KeyObject): string {
  return cryptoSign(null, typeof body === 'string' ? Buffer.from(body, 'utf8') : body, key).toString('base64');
}

/** True only for a valid signature of exactly these bytes by this public key (PEM or KeyObject); never throws. */
export function verify(body: Buffer | Uint8Array | string, signatureB64: string, publicKey: KeyObject | string): boolean {
  try {
    const signature = Buffer.from(signatureB64, 'base64');
    if (signature.length !== 64) return false;
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
    return cryptoVerify(null, typeof body === 'string' ? Buffer.from(body, 'utf8') : body, key, signature);
  } catch {
    return false;
  }
}

/**
 * verify() on the libuv thread pool (hashing a large snapshot takes a while): resolves true or false, never
 * rejects.
 */
export function verifyAsync(body: Buffer | Uint8Array, signatureB64: string, publicKey: KeyObject | string): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const signature = Buffer.from(signatureB64, 'base64');
      if (signature.length !== 64) return resolve(false);
      const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey.type === 'private' ? createPublicKey(publicKey) : publicKey;
      cryptoVerify(null, body, key, signature, (err, ok) => resolve(!err && ok));
    } catch {
      resolve(false);
    }
  });
}

/** The public half as SPKI PEM, what GET /api/v1/routing/public-key serves. */
export function publicKeyPem(key: KeyObject): string {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'pem' }).toString();
}

/** The header value for a body: "ed25519 <base64>". */
export function signatureHeader(body: Buffer | Uint8Array | string, key: KeyObject): string {
  return `${SIGNATURE_SCHEME} ${sign(body, key)}`;
}

/** The base64 signature in a header value, or null when the header is missing or of another scheme. */
export function signatureFromHeader(value: string | null | undefined): string | null {
  const m = /^\s*ed25519\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(value ?? '');
  return m ? m[1]! : null;
}
