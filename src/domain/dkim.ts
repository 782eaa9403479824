/**
 * DKIM checks for abuse reports, with mailauth 4.x: which signatures of a message verify, over which header
 * fields. The key lookup is a resolver given by the caller, so nothing here reaches the network by itself:
 * our own outbound keys are answered from the policy (no DNS), a partner's keys from DNS, tests from a key they
 * made. Work is bounded before mailauth runs (header block size, number of signatures), so a hostile sample
 * cannot turn one check into thousands of key lookups or body hashes.
 */
import { Resolver } from 'node:dns/promises';
import { dkimVerify, type DkimResolver } from 'mailauth/lib/dkim/verify.js';

export type { DkimResolver };

/** Most signature fields (DKIM-Signature and ARC-*) a message may carry for us to check it at all. */
export const MAX_SIGNATURES = 8;
/** Largest header block we hand to the verifier. */
export const MAX_HEADER_BYTES = 256 * 1024;

/** What we keep of one signature's verification. */
export interface SignatureCheck {
  domain: string;
  selector: string;
  algorithm: string;
  /** mailauth's result: pass, fail, neutral (no key, body hash mismatch, …), temperror, policy. */
  result: string;
  comment: string;
  /** Names of the header fields the signature covers (those of its h= found in the message), lower-cased. */
  signedFields: string[];
  /** The header lines the signature covers, as they appear in the message (unfolding left to the reader). */
  signedLines: string[];
  /** The signature has an l= body length: bytes after it are not covered. */
  bodyLengthLimited: boolean;
  /**
   * sha256 hex of the signature's decoded b= value (mailauth's result id): what identifies a signed message,
   * whatever unsigned fields were added to it. '' when not verified.
   */
  signatureId: string;
}

export type DkimCheck =
  | { checked: true; signatures: SignatureCheck[]; /** Every header field name of the message, lower-cased, in order. */ fields: string[] }
  | { checked: false; reason: string };

/** A DNS-style failure the verifier reads as "no such key". */
const notFound = (name: string) => Object.assign(new Error(`no key ${name}`), { code: 'ENOTFOUND' });

const keyName = (selector: string, domain: string) => `${selector}._domainkey.${domain}`.toLowerCase().replace(/\.$/, '');

/** Answers only for our own outbound keys, from the policy (`network.dkimKeys`); everything else has no key. */
export function policyKeyResolver(keys: ReadonlyArray<{ domain: string; selector: string; publicKey: string }>): DkimResolver {
  const records = new Map(keys.map((k) => [keyName(k.selector, k.domain), `v=DKIM1; p=${k.publicKey.replace(/\s+/g, '')}`]));
  return async (name, type) => {
    const record = type.toUpperCase() === 'TXT' ? records.get(name.toLowerCase().replace(/\.$/, '')) : undefined;
    if (!record) throw notFound(name);
    return [[record]];
  };
}

/**
 * Looks keys up in DNS, but only under the given domains (partners' DKIM domains): a report signed by anyone
 * else costs no query. `lookup` defaults to a resolver with a short timeout.
 */
export function dnsKeyResolver(domains: readonly string[], lookup?: DkimResolver): DkimResolver {
  const allowed = new Set(domains.map((d) => d.toLowerCase().replace(/\.$/, '')));
  let ask = lookup;
  return async (name, type) => {
    const n = name.toLowerCase().replace(/\.$/, '');
    const at = n.indexOf('._domainkey.');
    if (type.toUpperCase() !== 'TXT' || at <= 0 || !allowed.has(n.slice(at + '._domainkey.'.length))) throw notFound(name);
    if (!ask) {
      const resolver = new Resolver({ timeout: 3000, tries: 2 });
      ask = (host) => resolver.resolveTxt(host);
    }
    return ask(n, 'TXT');
  };
}

/** The header block of a message (up to the first empty line), or null when it is longer than the bound. */
function headerBlock(message: Buffer): string | null {
  const window = message.subarray(0, MAX_HEADER_BYTES + 4).toString('latin1');
  const end = window.search(/\r?\n\r?\n/);
  if (end === -1) return message.length <= MAX_HEADER_BYTES ? window : null;
  return end <= MAX_HEADER_BYTES ? window.slice(0, end) : null;
}

/** d= and s= of each DKIM-Signature field of a header block (lower-cased), read without verifying anything. */
function declaredSignatures(header: string): Array<{ domain: string; selector: string }> {
  const unfolded = header.replace(/\r?\n[ \t]+/g, ' ');
  return [...unfolded.matchAll(/^dkim-signature[ \t]*:(.*)$/gim)].map((m) => {
    const tag = (name: string) => (new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*([^;\\s]*)`, 'i').exec(m[1] ?? '')?.[1] ?? '').toLowerCase();
    return { domain: tag('d'), selector: tag('s') };
  });
}

export interface CheckOptions {
  /** Largest body (the bytes after the header block) hashed; a larger one is not checked. Default: no bound. */
  maxBodyBytes?: number;
}

/**
 * Verifies the DKIM signatures of a message (within the bounds above), looking keys up with `resolver`. When
 * none of its signatures is one `wanted` accepts (by d= and s=), nothing is hashed or looked up: they are
 * listed as `not checked`. Pure CPU apart from the resolver: callers run it on the parser pool with a budget
 * (src/parse/pool.ts `verifyDkim`), never on an event loop that serves anything.
 */
export async function checkDkim(message: Buffer, resolver: DkimResolver, wanted: (domain: string, selector: string) => boolean = () => true, opts: CheckOptions = {}): Promise<DkimCheck> {
  const header = headerBlock(message);
  if (header === null) return { checked: false, reason: `header block larger than ${MAX_HEADER_BYTES / 1024} KB` };
  const signatureFields = header.match(/^(?:dkim-signature|arc-seal|arc-message-signature|arc-authentication-results)[ \t]*:/gim)?.length ?? 0;
  if (signatureFields > MAX_SIGNATURES) return { checked: false, reason: `${signatureFields} signature fields (more than ${MAX_SIGNATURES})` };
  const declared = declaredSignatures(header);
  if (!declared.some((d) => wanted(d.domain, d.selector))) {
    return {
      checked: true,
      fields: fieldNames(header),
      signatures: declared.map((d) => ({ ...d, algorithm: '', result: 'not checked', comment: 'not a key we check', signedFields: [], signedLines: [], bodyLengthLimited: false, signatureId: '' })),
    };
  }
  const bodyBytes = message.length - header.length;
  if (opts.maxBodyBytes !== undefined && bodyBytes > opts.maxBodyBytes) {
    return { checked: false, reason: `body of ${Math.round(bodyBytes / 1024)} KB, larger than the ${Math.round(opts.maxBodyBytes / 1024)} KB we verify` };
  }
  const verified = await dkimVerify(message, { resolver, minBitLength: 1024 });
  return {
    checked: true,
    fields: verified.headers?.parsed.map((h) => h.key) ?? fieldNames(header),
    signatures: verified.results.map((r) => ({
      domain: (r.signingDomain ?? '').toLowerCase(),
      selector: (r.selector ?? '').toLowerCase(),
      algorithm: (r.algo ?? '').toLowerCase(),
      result: r.status?.result ?? 'neutral',
      comment: r.status?.comment ?? '',
      signedFields: (r.signingHeaders?.keys ?? '')
        .split(':')
        .map((k) => k.trim().toLowerCase())
        .filter(Boolean),
      signedLines: r.signingHeaders?.headers ?? [],
      bodyLengthLimited: r.canonBodyLengthLimited === true,
      signatureId: r.status?.result === 'pass' ? r.id : '',
    })),
  };
}

function fieldNames(header: string): string[] {
  return [...header.matchAll(/^([^\s:]+)[ \t]*:/gm)].map((m) => m[1]!.toLowerCase());
}

/** A pass we accept: sha256 (RFC 8301 retires rsa-sha1) and the whole body covered (no l=). */
export function acceptablePass(s: SignatureCheck): boolean {
  return s.result === 'pass' && (s.algorithm === 'rsa-sha256' || s.algorithm === 'ed25519-sha256') && !s.bodyLengthLimited;
}

/** The value of a header line as signed ("Name: value", folded), unfolded and trimmed. */
export function signedValue(line: string): string {
  const colon = line.indexOf(':');
  return (colon === -1 ? '' : line.slice(colon + 1)).replace(/\r?\n[ \t]+/g, ' ').trim();
}
