import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { DkimResolver } from '../../src/domain/dkim.js';

/** A DKIM key pair made for a test, with the p= value as DNS (and our policy) would publish it. */
export interface TestKey {
  domain: string;
  selector: string;
  privateKey: string;
  /** base64 of the SubjectPublicKeyInfo (RSA) or of the raw 32-byte key (ed25519), as in a DKIM TXT record. */
  publicKey: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
}

export function makeKey(domain: string, selector: string, type: 'rsa' | 'ed25519' = 'rsa'): TestKey {
  const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ed25519');
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  return {
    domain,
    selector,
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: (type === 'rsa' ? spki : spki.subarray(spki.length - 32)).toString('base64'),
    algorithm: type === 'rsa' ? 'rsa-sha256' : 'ed25519-sha256',
  };
}

/** The fields our outbound MTAs sign: the usual ones and the tenant header. */
export const OUR_SIGNED_FIELDS = ['from', 'to', 'subject', 'date', 'message-id', 'mime-version', 'content-type', 'x-tenant-id'];

/**
 * mailauth's signer writes t= twice, once into the header it signs and once into the header it returns, each time
 * from the clock (Math.round(now / 1000)) unless `signTime` is given: when a half second passes between the two
 * (RSA signing takes a few ms), the signature does not verify, about once in 150 signatures here. So every test
 * signature names its time.
 */
export const SIGN_TIME = { signTime: new Date() } as const;

/** The message with a DKIM-Signature by `key` prepended, covering `fields` (and the whole body). */
export async function signed(message: string, key: TestKey, fields: string[] = OUR_SIGNED_FIELDS): Promise<string> {
  const { signatures, errors } = await dkimSign(message, {
    ...SIGN_TIME,
    canonicalization: 'relaxed/relaxed',
    headerList: fields.join(':'),
    signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKey, algorithm: key.algorithm }],
  });
  if (errors.length) throw new Error(`signing failed: ${String(errors[0])}`);
  return signatures + message;
}

/** The policy entry of one of our outbound keys (network.dkimKeys). */
export const policyKey = (k: TestKey) => ({ domain: k.domain, selector: k.selector, publicKey: k.publicKey });

/** A DNS stand-in that knows these keys' TXT records and nothing else. */
export function txtResolver(keys: TestKey[]): DkimResolver {
  return async (name) => {
    const k = keys.find((x) => `${x.selector}._domainkey.${x.domain}` === name.toLowerCase());
    if (!k) throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    return [[`v=DKIM1; k=${k.algorithm.startsWith('ed25519') ? 'ed25519' : 'rsa'}; p=${k.publicKey}`]];
  };
}
