/**
 * The tenant directory's values, validated hard before they reach the database (which checks them again: see
 * migrations 0001 and 0006). Pure: no I/O. Every function returns the canonical form or throws TenantInputError
 * with a message an operator can act on (it never echoes more than a bounded, printable prefix of the input).
 */
import { domainToASCII } from 'node:url';

export class TenantInputError extends Error {
  constructor(
    readonly field: 'tenant' | 'name' | 'domain' | 'feedbackId' | 'verp' | 'email',
    message: string,
  ) {
    super(message);
  }
}

/** A short, printable quote of what was given (never the whole of a hostile input). */
export const quote = (v: string): string => {
  const printable = v.replace(/[^\x20-\x7e]/g, '?');
  return JSON.stringify(printable.length > 80 ? `${printable.slice(0, 80)}…` : printable);
};

export const TENANT_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const MAX_NAME = 200;
export const MAX_DOMAIN = 253;
export const MAX_FEEDBACK_ID = 64;
export const MAX_VERP = 254;

export function tenantIdOf(raw: unknown): string {
  const v = typeof raw === 'string' ? raw.trim() : '';
  if (!v) throw new TenantInputError('tenant', 'Give a tenant id.');
  if (!TENANT_ID_RE.test(v)) throw new TenantInputError('tenant', `${quote(v)} is not a tenant id: 1–64 letters, digits, dots, dashes or underscores.`);
  return v;
}

export function tenantNameOf(raw: unknown): string {
  const v = typeof raw === 'string' ? raw.trim().replace(/\s+/g, ' ') : '';
  if (v.length > MAX_NAME) throw new TenantInputError('name', `A tenant name has at most ${MAX_NAME} characters.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new TenantInputError('name', 'A tenant name cannot hold control characters.');
  return v;
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/**
 * A registered sending domain: lower case, A-labels (an IDN is converted), no trailing dot, at least two labels,
 * each 1–63 letters, digits or inner dashes, an alphabetic (or xn--) top-level label, at most 253 characters.
 */
export function domainOf(raw: unknown): string {
  const given = typeof raw === 'string' ? raw.trim() : '';
  if (!given) throw new TenantInputError('domain', 'Give a domain name.');
  if (given.length > MAX_DOMAIN + 1) throw new TenantInputError('domain', `A domain name has at most ${MAX_DOMAIN} characters.`);
  const bare = given.toLowerCase().replace(/\.$/, '');
  const ascii = /^[\x21-\x7e]+$/.test(bare) ? bare : domainToASCII(bare);
  const bad = (why: string) => new TenantInputError('domain', `${quote(given)} is not a domain name: ${why}.`);
  if (!ascii) throw bad('it cannot be written in letters, digits and dashes');
  if (ascii.length > MAX_DOMAIN) throw bad(`longer than ${MAX_DOMAIN} characters`);
  if (/^[\d.]+$/.test(ascii) || ascii.includes(':') || ascii.startsWith('[')) throw bad('an address, not a name');
  const labels = ascii.split('.');
  if (labels.length < 2) throw bad('a sending domain has at least two labels (example.com)');
  if (labels.some((l) => !LABEL.test(l))) throw bad('each label is 1–63 letters, digits or dashes, not starting or ending with a dash');
  if (!TLD.test(labels[labels.length - 1]!)) throw bad('the last label is not a top-level domain');
  return ascii;
}

/**
 * A Feedback-ID identifier of a tenant: one of the colon-separated parts our MTAs write in the `Feedback-ID`
 * header (Google: `CampaignId:CustomerId:OtherId:SenderId`), so it holds no colon. 1–64 letters, digits and
 * `. _ + = / -`, starting with a letter or digit; compared in lower case.
 */
export function feedbackIdOf(raw: unknown): string {
  const v = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (!v) throw new TenantInputError('feedbackId', 'Give a Feedback-ID identifier.');
  if (v.includes(':')) throw new TenantInputError('feedbackId', `${quote(v)} holds a colon: register one part of the Feedback-ID (the parts are separated by colons), not the whole header.`);
  if (!/^[a-z0-9][a-z0-9._+=/-]{0,63}$/.test(v)) throw new TenantInputError('feedbackId', `${quote(v)} is not a Feedback-ID identifier: 1–${MAX_FEEDBACK_ID} letters, digits and . _ + = / -, starting with a letter or digit.`);
  return v;
}

/**
 * A VERP pattern: an address whose local part may hold `*` (any run of characters but `@`), e.g.
 * `bounce-*@bounces.shop.example`. The domain is a domain name without wildcards; the local part keeps at least one
 * literal character, so a pattern never claims a whole domain (registering the domain does that, with less
 * confidence). Lower case, at most 254 characters.
 */
export function verpPatternOf(raw: unknown): string {
  const v = typeof raw === 'string' ? raw.trim().toLowerCase().replace(/^<|>$/g, '') : '';
  if (!v) throw new TenantInputError('verp', 'Give a VERP pattern, such as bounce-*@bounces.example.com.');
  if (v.length > MAX_VERP) throw new TenantInputError('verp', `A VERP pattern has at most ${MAX_VERP} characters.`);
  const at = v.lastIndexOf('@');
  if (at <= 0 || v.indexOf('@') !== at) throw new TenantInputError('verp', `${quote(v)} is not a VERP pattern: write one address, local-part@domain, with * where the address varies.`);
  const local = v.slice(0, at);
  if (!/^[a-z0-9!#$&'+/=?^_`{|}~.*-]{1,64}$/.test(local)) throw new TenantInputError('verp', `${quote(v)}: the local part is 1–64 letters, digits, * and the characters an address allows (no % or \\).`);
  if (!/[^*]/.test(local)) throw new TenantInputError('verp', `${quote(v)}: a pattern keeps at least one fixed character before the @ (register the domain to claim all of it).`);
  let domain: string;
  try {
    domain = domainOf(v.slice(at + 1));
  } catch (err) {
    throw new TenantInputError('verp', `${quote(v)}: ${(err as Error).message}`);
  }
  return `${local}@${domain}`;
}

/** Does a 5321.MailFrom match a VERP pattern? (The rule the store's SQL applies with LIKE: `*` → `%`, `_` escaped; `%` and `\` never occur in a pattern.) */
export function verpMatches(pattern: string, mailFrom: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('[^@]*')}$`);
  return re.test(mailFrom.trim().toLowerCase());
}

export function contactEmailOf(raw: unknown): string {
  const v = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
  if (!v || v.length > 254 || !/^[^\s@<>"]{1,64}@[^\s@<>"]+$/.test(v)) throw new TenantInputError('email', `${quote(v)} is not an email address.`);
  domainOf(v.slice(v.indexOf('@') + 1));
  return v;
}
