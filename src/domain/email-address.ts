/**
 * Email addresses as one mailbox, for counting only: the rate limits and cool-downs of our challenge mails count
 * `A.B+x@GoogleMail.com` and `ab@gmail.com` as the same person, so that variants of one address cannot multiply
 * what one recipient receives. The address a mail is sent to stays what the person typed.
 *
 * The rules: lower case; a `+tag` (sub-address) removed from the local part, whatever the provider (counting two
 * mailboxes of one domain together costs little; letting `a+1@`, `a+2@` … through costs a mailbox its peace); and
 * the few provider rules we know, in a small table. Where a provider's rules are unknown, dots are kept.
 */

interface ProviderRule {
  /** The domain the provider's aliases stand for (googlemail.com → gmail.com). */
  canonical: string;
  /** The provider ignores dots in the local part. */
  dropDots: boolean;
}

const GMAIL: ProviderRule = { canonical: 'gmail.com', dropDots: true };

/** Providers whose mailbox rules are documented; others only get the generic rules. */
const PROVIDERS: Readonly<Record<string, ProviderRule>> = Object.freeze({
  'gmail.com': GMAIL,
  'googlemail.com': GMAIL,
});

/** A domain as counted: lower case, without a trailing root dot, a known provider's alias mapped to its canonical name. */
export function countingDomain(domain: string): string {
  const d = domain.trim().toLowerCase().replace(/\.+$/, '');
  return PROVIDERS[d]?.canonical ?? d;
}

/**
 * The mailbox an address stands for, as counted: `local@domain` in lower case, without a `+tag`, with the
 * provider's rules applied. Text without an `@` is only lower-cased and trimmed (callers validate before).
 */
export function countingAddress(address: string): string {
  const text = address.trim().toLowerCase();
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const domainRaw = text.slice(at + 1).replace(/\.+$/, '');
  const rule = PROVIDERS[domainRaw];
  let local = text.slice(0, at);
  // A quoted local part ("a+b"@x) is one opaque name: only its case is folded.
  if (!local.startsWith('"')) {
    const plus = local.indexOf('+');
    if (plus > 0) local = local.slice(0, plus);
    if (rule?.dropDots) local = local.replace(/\./g, '') || local;
  }
  return `${local}@${rule?.canonical ?? domainRaw}`;
}

/** The domain part of an address as counted (see countingDomain); '' for text without an `@`. */
export function countingDomainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : countingDomain(address.slice(at + 1));
}
