/**
 * Whom we believe about an abuse report, and why. Two separate questions:
 *
 * - The reporter: a configured feedback-loop partner (recognised by the transport: SMTP AUTH user, client IP
 *   range, API token name; or by a verifying DKIM signature of the partner's domain on the report itself), or a
 *   web reporter who confirmed their email address. Never decided from what the sample says. Anyone else is
 *   untrusted: the report is kept as evidence and counted apart, and never moves a customer.
 * - The tenant: the sample's tenant header is only a claim, unless a DKIM signature by one of our own outbound
 *   keys verifies over the original message and covers that header (every occurrence of it), which proves our
 *   service sent that message for that tenant.
 *
 * Only a report with both (a trusted reporter, a verified tenant) counts toward automatic escalation. Pure: the
 * DKIM results come in from ./dkim.ts.
 *
 * What counts as distinct is decided here too: one reporter is a partner, a mailbox at a large public provider,
 * or a whole email domain elsewhere (reporterIdOf); one message is the DKIM signature of ours that vouched for it,
 * not a Message-ID anyone can prepend (messageIdentity).
 */
import type { Policy } from '../policy.js';
import { acceptablePass, signedValue, type DkimCheck, type SignatureCheck } from './dkim.js';
import { countingAddress } from './email-address.js';
import { contains, parseAddress, parseNetwork, type Address } from './ip.js';

/**
 * Who handed a report to us, as far as the transport can tell (kept with the report as JSON). Web reports are
 * not described by it: their reporter is the email address they confirmed.
 */
export interface ReportOrigin {
  channel: 'api' | 'smtp';
  /** Client address of the connection (SMTP peer, or the HTTP client as express sees it). */
  clientIp: string;
  /** SMTP: the authenticated user name (SMTP AUTH), when the client authenticated. */
  smtpUser?: string;
  /** SMTP: the envelope sender (MAIL FROM), '' for the null path. */
  mailFrom?: string;
  /** API: the name of the bearer token used. */
  apiTokenName?: string;
}

export type Partner = Policy['partners'][number];

export type ReporterTrust =
  | { level: 'partner'; partner: string; via: 'smtp-auth' | 'client-ip' | 'api-token' | 'dkim'; detail: string }
  | { level: 'confirmed-web'; email: string }
  | { level: 'untrusted'; detail: string };

export type TenantTrust =
  | { level: 'verified'; tenant: string; domain: string; selector: string }
  | { level: 'claimed'; tenant: string | null; detail: string };

/** The trust decision kept with a report (request field `trust`, JSON). */
export interface ReportTrust {
  reporter: ReporterTrust;
  tenant: TenantTrust;
  /**
   * Who counts as one reporter: `partner:<name>`, `web:<normalised mailbox>` at a public mail provider, or
   * `web-domain:<registrable domain>` for any other address; null when untrusted.
   */
  reporterId: string | null;
  /** A trusted reporter and a tenant vouched for by our DKIM: the report counts toward automatic escalation. */
  counts: boolean;
  /**
   * What identifies the reported message for dedupe and counting. When our signature vouched for the tenant,
   * only what it signed: `signed-mid:<the Message-ID it covers>`, or `dkim:<sha256 of its b= value>` when it
   * covers none; no unsigned field can change either. Otherwise the Message-ID as parsed (null when none).
   * Absent in decisions stored before it existed.
   */
  messageIdentity?: string | null;
}

function addressOf(text: string | undefined): Address | null {
  if (!text) return null;
  try {
    return parseAddress(text);
  } catch {
    return null;
  }
}

/** The partner range containing the address, if any (a range that does not parse matches nothing). */
function partnerRange(p: Partner, addr: Address): string | null {
  for (const cidr of p.clientIps) {
    try {
      if (contains(parseNetwork(cidr), addr)) return cidr;
    } catch {
      // policy validation refuses such ranges at start; never match one
    }
  }
  return null;
}

/** The reporter as the transport shows it: SMTP AUTH user, then API token name, then client IP range. */
export function reporterByTransport(partners: readonly Partner[], origin: ReportOrigin): ReporterTrust {
  if (origin.channel === 'smtp' && origin.smtpUser) {
    const p = partners.find((x) => x.smtpAuth && (x.smtpAuth.username === origin.smtpUser || x.name === origin.smtpUser));
    if (p) return { level: 'partner', partner: p.name, via: 'smtp-auth', detail: `SMTP AUTH as ${p.smtpAuth!.username}` };
  }
  if (origin.channel === 'api' && origin.apiTokenName) {
    const p = partners.find((x) => x.apiTokens.includes(origin.apiTokenName!));
    if (p) return { level: 'partner', partner: p.name, via: 'api-token', detail: `API token ${origin.apiTokenName}` };
  }
  const addr = addressOf(origin.clientIp);
  if (addr) {
    for (const p of partners) {
      const range = partnerRange(p, addr);
      if (range) return { level: 'partner', partner: p.name, via: 'client-ip', detail: `client IP ${addr.text} in ${range}` };
    }
  }
  const who =
    origin.channel === 'api'
      ? `API token ${origin.apiTokenName ?? '?'} is not a partner's`
      : origin.smtpUser
        ? `SMTP AUTH user ${origin.smtpUser} is not a partner's`
        : 'SMTP without AUTH';
  return { level: 'untrusted', detail: `${who}; client IP ${addr?.text ?? (origin.clientIp || '?')} is in no partner's range` };
}

/** A partner recognised by a verifying DKIM signature of one of its domains on the report itself. */
export function reporterByDkim(partners: readonly Partner[], check: DkimCheck): ReporterTrust | null {
  if (!check.checked) return null;
  for (const s of check.signatures) {
    if (!acceptablePass(s)) continue;
    const p = partners.find((x) => x.dkimDomains.some((d) => d.toLowerCase().replace(/\.$/, '') === s.domain));
    if (p) return { level: 'partner', partner: p.name, via: 'dkim', detail: `DKIM d=${s.domain} s=${s.selector}` };
  }
  return null;
}

/** Why a report's own DKIM did not make it a partner's (for staff), or '' when there is nothing to say. */
export function reportDkimNote(partners: readonly Partner[], check: DkimCheck): string {
  if (!check.checked) return `its DKIM was not checked (${check.reason})`;
  const domains = new Set(partners.flatMap((p) => p.dkimDomains.map((d) => d.toLowerCase().replace(/\.$/, ''))));
  const partnerSig = check.signatures.find((s) => domains.has(s.domain));
  if (partnerSig) return `its DKIM signature d=${partnerSig.domain} s=${partnerSig.selector} did not verify (${partnerSig.comment || partnerSig.result}${partnerSig.bodyLengthLimited ? ', l= limited' : ''})`;
  return check.signatures.length ? `its DKIM signatures (${[...new Set(check.signatures.map((s) => `d=${s.domain}`))].join(', ')}) are no partner's` : '';
}

/**
 * An email address as one reporter: lower case, no +tag, and for Gmail no dots (a.b+x@gmail.com and
 * ab@googlemail.com are one person).
 */
export function normaliseEmail(email: string): string {
  const e = email.trim().toLowerCase();
  const at = e.lastIndexOf('@');
  if (at <= 0) return e;
  let local = e.slice(0, at);
  let domain = e.slice(at + 1).replace(/\.$/, '');
  const plus = local.indexOf('+');
  if (plus > 0) local = local.slice(0, plus);
  if (domain === 'googlemail.com') domain = 'gmail.com';
  if (domain === 'gmail.com') local = local.replace(/\./g, '');
  return `${local}@${domain}`;
}

/**
 * Large public mailbox providers, where anyone gets a mailbox and each counts as one reporter. The policy's
 * `abuse.publicMailProviders` (same default) is what the worker uses.
 */
export const PUBLIC_MAIL_PROVIDERS: readonly string[] = Object.freeze(['gmail.com', 'googlemail.com', 'outlook.com', 'hotmail.com', 'live.com', 'yahoo.com', 'icloud.com', 'me.com', 'aol.com', 'gmx.de', 'web.de', 'mail.ru', 'yandex.ru', 'naver.com', 'daum.net', 'qq.com', '163.com', 'proton.me', 'protonmail.com']);

/** Second-level labels under a two-letter country code that are registries' own (co.uk, com.au, ne.jp, …). */
const SHORT_SECOND_LEVELS = new Set(['ac', 'co', 'com', 'edu', 'gov', 'net', 'org', 'ne', 'or', 'go', 'gob', 'gen', 'ltd', 'plc', 'sch', 'mil', 'nom']);

/**
 * The part of a domain one party registers, by a small rule instead of the Public Suffix List: its last two
 * labels, or its last three when it ends in a two-letter country code under one of the short second-level
 * labels above (mail.example.co.uk → example.co.uk; a.b.example.com → example.com). Wrong for some suffixes
 * (it may join two parties under an unlisted public suffix: they then count as one reporter, the safe side).
 */
export function registrableDomain(domain: string): string {
  const labels = domain.trim().toLowerCase().replace(/\.+$/, '').split('.').filter(Boolean);
  const keep = labels.length >= 3 && labels.at(-1)!.length === 2 && SHORT_SECOND_LEVELS.has(labels.at(-2)!) ? 3 : 2;
  return labels.slice(-keep).join('.');
}

/**
 * Who a confirmed web reporter is, as counted: at a large public provider the mailbox (normalised: case, +tag,
 * the provider's dot rules), anywhere else the registrable domain of the address, so that the addresses of one
 * domain (anyone who owns a domain has as many as they like) are one reporter.
 */
export function webReporterKey(email: string, publicProviders: readonly string[] = PUBLIC_MAIL_PROVIDERS): string {
  const mailbox = countingAddress(email);
  const domain = mailbox.slice(mailbox.lastIndexOf('@') + 1);
  const typed = email.slice(email.lastIndexOf('@') + 1).trim().toLowerCase().replace(/\.+$/, '');
  const provider = publicProviders.includes(domain) || publicProviders.includes(typed);
  return provider ? `web:${mailbox}` : `web-domain:${registrableDomain(domain)}`;
}

/** A web report: trusted only once its reporter confirmed the address by the emailed link. */
export function webReporter(email: string, confirmed: boolean): ReporterTrust {
  return confirmed && email ? { level: 'confirmed-web', email } : { level: 'untrusted', detail: 'web report whose email address was not confirmed' };
}

/** Who counts as one reporter (see ReportTrust.reporterId); null when untrusted. */
export function reporterIdOf(r: ReporterTrust, publicProviders: readonly string[] = PUBLIC_MAIL_PROVIDERS): string | null {
  if (r.level === 'partner') return `partner:${r.partner}`;
  if (r.level === 'confirmed-web') return webReporterKey(r.email, publicProviders);
  return null;
}

/** Fields a message has once: a second one (above the signed one, which the verifier reads) marks it tampered. */
const SINGLE_FIELDS = ['message-id', 'from'];

/**
 * Whether our own DKIM vouches for the tenant the sample names. `check` is the DKIM check of the original
 * message (null when the original with its body was not found in the report).
 */
export function tenantTrust(network: Policy['network'], claimed: string | null, check: DkimCheck | null): TenantTrust {
  return tenantVerdict(network, claimed, check).tenant;
}

/**
 * tenantTrust, and the identity of the message as the signature that vouched for it signed it (see
 * ReportTrust.messageIdentity; null when not vouched for). A message with a second Message-ID, From or tenant
 * field is tampered: it is never vouched for, as the verifier reads the bottom-most occurrence and anyone may
 * add one above it (the summary shows the topmost).
 */
export function tenantVerdict(network: Policy['network'], claimed: string | null, check: DkimCheck | null): { tenant: TenantTrust; identity: string | null } {
  const tenant = tenantVerdictOf(network, claimed, check);
  return 'identity' in tenant ? { tenant: tenant.trust, identity: tenant.identity } : { tenant, identity: null };
}

/** The Message-ID a signature covers (whitespace runs, which relaxed canonicalization lets anyone change, made one space; lower case), or null. */
function signedMessageId(s: SignatureCheck): string | null {
  const lines = s.signedLines.filter((l) => l.slice(0, Math.max(0, l.indexOf(':'))).trim().toLowerCase() === 'message-id');
  if (lines.length !== 1) return null;
  const id = signedValue(lines[0]!).replace(/\s+/g, ' ').trim().toLowerCase();
  return id === '' ? null : id;
}

function tenantVerdictOf(network: Policy['network'], claimed: string | null, check: DkimCheck | null): TenantTrust | { trust: TenantTrust; identity: string } {
  const claim = (detail: string): TenantTrust => ({ level: 'claimed', tenant: claimed, detail });
  if (claimed === null) return claim('the sample names no tenant');
  if (network.dkimKeys.length === 0) return claim('no outbound DKIM keys are configured (policy network.dkimKeys)');
  if (check === null) return claim('the original message (with its body) is not in the report');
  if (!check.checked) return claim(`its DKIM was not checked (${check.reason})`);
  const header = network.tenantHeader.toLowerCase();
  const ours = check.signatures.filter((s) => network.dkimKeys.some((k) => k.domain.toLowerCase().replace(/\.$/, '') === s.domain && k.selector.toLowerCase() === s.selector));
  if (ours.length === 0) {
    const others = [...new Set(check.signatures.map((s) => `d=${s.domain} s=${s.selector}`))];
    return claim(others.length ? `no signature by our keys (only ${others.join(', ')})` : 'the original carries no DKIM signature');
  }
  const present = check.fields.filter((f) => f === header).length;
  let why = '';
  for (const s of ours) {
    const tag = `s=${s.selector} d=${s.domain}`;
    if (!acceptablePass(s)) {
      why = s.result !== 'pass' ? `our signature ${tag} did not verify (${s.comment || s.result})` : s.bodyLengthLimited ? `our signature ${tag} covers only part of the body (l=)` : `our signature ${tag} uses ${s.algorithm}`;
      continue;
    }
    const signed = s.signedLines.filter((l) => l.slice(0, Math.max(0, l.indexOf(':'))).trim().toLowerCase() === header);
    if (signed.length === 0) {
      why = `our signature ${tag} verifies but does not cover ${network.tenantHeader}`;
      continue;
    }
    if (signed.length !== present) {
      why = `${network.tenantHeader} appears ${present} times; our signature ${tag} covers ${signed.length}`;
      continue;
    }
    const values = signed.map(signedValue);
    const other = values.find((v) => v !== claimed);
    if (other !== undefined) {
      why = `our signature ${tag} covers ${network.tenantHeader}: ${other.slice(0, 64)}, not ${claimed}`;
      continue;
    }
    const doubled = [...SINGLE_FIELDS, header].find((name) => check.fields.filter((f) => f === name).length > 1);
    if (doubled !== undefined) {
      return claim(`our signature ${tag} verifies, but the message has ${check.fields.filter((f) => f === doubled).length} ${doubled === header ? network.tenantHeader : doubled === 'from' ? 'From' : 'Message-ID'} fields: treated as tampered`);
    }
    const mid = signedMessageId(s);
    if (!mid && !s.signatureId) {
      why = `our signature ${tag} has no identity`;
      continue;
    }
    return { trust: { level: 'verified', tenant: claimed, domain: s.domain, selector: s.selector }, identity: mid ? `signed-mid:${mid}` : `dkim:${s.signatureId}` };
  }
  return claim(why);
}

export interface TrustOptions {
  /** The identity of the message (see ReportTrust.messageIdentity): our vouching signature's, else the Message-ID. */
  messageIdentity?: string | null;
  /** Public mail providers (policy abuse.publicMailProviders). */
  publicProviders?: readonly string[];
}

export function decideTrust(reporter: ReporterTrust, tenant: TenantTrust, opts: TrustOptions = {}): ReportTrust {
  const reporterId = reporterIdOf(reporter, opts.publicProviders);
  return { reporter, tenant, reporterId, counts: reporterId !== null && tenant.level === 'verified', messageIdentity: opts.messageIdentity ?? null };
}

/** Staff wording of the reporter decision. */
export function reporterLabel(r: ReporterTrust): string {
  if (r.level === 'partner') return `Partner ${r.partner}, by ${r.detail}`;
  if (r.level === 'confirmed-web') return `Confirmed web reporter ${r.email}`;
  return `Untrusted: ${r.detail}`;
}

/** Staff wording of the tenant decision. */
export function tenantLabel(t: TenantTrust): string {
  if (t.level === 'verified') return `${t.tenant}, verified by our DKIM key s=${t.selector} d=${t.domain}`;
  return `${t.tenant ? `${t.tenant}, claimed only` : 'None'}: ${t.detail}`;
}

/** Reads a stored trust decision; null for reports ingested before trust was decided (or a damaged field). */
export function parseTrust(json: string | undefined): ReportTrust | null {
  if (!json) return null;
  try {
    const t = JSON.parse(json) as ReportTrust;
    return t && typeof t === 'object' && t.reporter && t.tenant ? t : null;
  } catch {
    return null;
  }
}
