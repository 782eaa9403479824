/**
 * Which of our tenants a reported message was sent for, from the signals a desk uses when our own tenant header
 * was dropped or redacted by the feedback loop (issue 15). Pure: the directory's answers come in as data
 * (DirectoryAnswers, made by the store from the keys customerKeys() lists), so every rule is tested without I/O.
 *
 * Signals, strongest first, with how sure each one is:
 *   1. tenant-header-verified  (verified) our X-Tenant-Id, covered by our own verifying DKIM signature
 *   2. feedback-id             (high)     a part of a Feedback-ID header registered to a tenant
 *   3. verp                    (high)     the 5321.MailFrom matches a tenant's VERP pattern
 *   4. dkim-domain             (medium)   a DKIM d= (or i=) domain registered to a tenant (signature not verified)
 *   5. mail-from-domain        (medium)   the 5321.MailFrom domain registered to a tenant
 *   6. from-domain             (low)      the 5322.From domain registered to a tenant (easily spoofed)
 *   7. tenant-header-claimed   (low)      our X-Tenant-Id header without a signature vouching for it
 * A domain counts with its subdomains; the most specific registered domain decides. Signals of a stronger
 * confidence win over weaker ones that disagree; when signals of the same confidence name different tenants
 * (two Feedback-IDs, a Feedback-ID and a VERP address, two DKIM domains …) there is no answer, with the reason.
 */

/** What the report parser extracts for this (src/domain/samples.ts, issue 15 shape). */
export interface CustomerSignals {
  tenantHeader: { tenant: string; verified: boolean } | null;
  customer: {
    feedbackIds: string[];
    dkim: Array<{ domain: string; identity: string | null; selector: string }>;
    mailFromDomain: string | null;
    fromDomain: string | null;
  };
  mailFrom: string | null;
}

export type CustomerSignal = 'tenant-header-verified' | 'feedback-id' | 'verp' | 'dkim-domain' | 'mail-from-domain' | 'from-domain' | 'tenant-header-claimed';
export type CustomerConfidence = 'verified' | 'high' | 'medium' | 'low';

export const SIGNAL_ORDER: readonly CustomerSignal[] = Object.freeze(['tenant-header-verified', 'feedback-id', 'verp', 'dkim-domain', 'mail-from-domain', 'from-domain', 'tenant-header-claimed'] as const);
export const CONFIDENCE_OF: Readonly<Record<CustomerSignal, CustomerConfidence>> = Object.freeze({
  'tenant-header-verified': 'verified',
  'feedback-id': 'high',
  verp: 'high',
  'dkim-domain': 'medium',
  'mail-from-domain': 'medium',
  'from-domain': 'low',
  'tenant-header-claimed': 'low',
});
const CONFIDENCES: readonly CustomerConfidence[] = ['verified', 'high', 'medium', 'low'];

export interface CustomerMatch {
  tenant: string;
  /** The strongest signal that named the tenant. */
  signal: CustomerSignal;
  confidence: CustomerConfidence;
  /** What matched, for staff and the reporter's preview: "Feedback-ID part acme-sender", "DKIM d=mail.shop.example (registered: shop.example)". */
  detail: string;
}

export interface CustomerDecision {
  match: CustomerMatch | null;
  /** Why: the match and the signals that agreed, or why there is none (no signal, or a conflict). */
  reason: string;
  /** Every signal that named a tenant (for the evidence view), strongest first. */
  evidence: Array<{ signal: CustomerSignal; tenant: string; detail: string }>;
}

/** What the directory says about the keys customerKeys() listed (lower-cased keys). */
export interface DirectoryAnswers {
  /** Feedback-ID part → tenant. */
  feedbackIds: ReadonlyMap<string, string>;
  /** Registered domain → tenant. */
  domains: ReadonlyMap<string, string>;
  /** Tenants whose VERP patterns match the 5321.MailFrom, with the pattern that matched. */
  verp: ReadonlyArray<{ tenant: string; pattern: string }>;
}

/** Bounds on what one report can make us look up (the parser bounds its fields too; this holds whatever comes). */
export const CUSTOMER_BOUNDS = Object.freeze({ feedbackIds: 10, partsPerFeedbackId: 8, partLength: 200, dkim: 20, domainLength: 253, mailFrom: 320 });

const TENANT_RE = /^[A-Za-z0-9._-]{1,64}$/;

const cleanDomain = (d: string | null | undefined): string | null => {
  if (typeof d !== 'string') return null;
  const v = d.trim().toLowerCase().replace(/^@/, '').replace(/\.$/, '');
  return v && v.length <= CUSTOMER_BOUNDS.domainLength && /^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(v) ? v : null;
};

/** The domain and its parents (at least two labels): mail.shop.example → mail.shop.example, shop.example. */
export function domainChain(domain: string): string[] {
  const labels = domain.split('.');
  const out: string[] = [];
  for (let i = 0; i + 2 <= labels.length; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/** The parts of one Feedback-ID header value (colon-separated, trimmed, lower case, non-empty, bounded). */
export function feedbackIdParts(value: string): string[] {
  return value
    .slice(0, CUSTOMER_BOUNDS.partLength * CUSTOMER_BOUNDS.partsPerFeedbackId)
    .split(':')
    .slice(0, CUSTOMER_BOUNDS.partsPerFeedbackId)
    .map((p) => p.trim().toLowerCase())
    .filter((p) => p !== '' && p.length <= CUSTOMER_BOUNDS.partLength);
}

/** The bare 5321.MailFrom, lower case, or null when it is not one address with one @. */
export function bareMailFrom(mailFrom: string | null | undefined): string | null {
  if (typeof mailFrom !== 'string') return null;
  const v = mailFrom.trim().replace(/^<|>$/g, '').toLowerCase();
  if (!v || v.length > CUSTOMER_BOUNDS.mailFrom || /[\s<>]/.test(v)) return null;
  const at = v.indexOf('@');
  return at > 0 && at === v.lastIndexOf('@') && at < v.length - 1 ? v : null;
}

/** The DKIM identity's domain: i=@mail.shop.example or i=user@mail.shop.example. */
const identityDomain = (identity: string | null): string | null => (identity ? cleanDomain(identity.slice(identity.lastIndexOf('@') + 1)) : null);

/** What the directory is asked: Feedback-ID parts, domains (each with its parents), the MailFrom for VERP. */
export function customerKeys(signals: CustomerSignals): { feedbackIdParts: string[]; domains: string[]; mailFrom: string | null } {
  const c = signals.customer;
  const parts = new Set<string>();
  for (const v of (c?.feedbackIds ?? []).slice(0, CUSTOMER_BOUNDS.feedbackIds)) if (typeof v === 'string') for (const p of feedbackIdParts(v)) parts.add(p);
  const domains = new Set<string>();
  const add = (d: string | null) => {
    if (d) for (const x of domainChain(d)) domains.add(x);
  };
  for (const s of (c?.dkim ?? []).slice(0, CUSTOMER_BOUNDS.dkim)) {
    add(cleanDomain(s?.domain));
    add(identityDomain(s?.identity ?? null));
  }
  const mailFrom = bareMailFrom(signals.mailFrom);
  add(cleanDomain(c?.mailFromDomain) ?? (mailFrom ? cleanDomain(mailFrom.slice(mailFrom.indexOf('@') + 1)) : null));
  add(cleanDomain(c?.fromDomain));
  return { feedbackIdParts: [...parts], domains: [...domains], mailFrom };
}

/** The most specific registered domain for a domain (itself or a parent), and its tenant. */
function registered(domain: string | null, answers: DirectoryAnswers): { tenant: string; registered: string } | null {
  if (!domain) return null;
  for (const d of domainChain(domain)) {
    const tenant = answers.domains.get(d);
    if (tenant) return { tenant, registered: d };
  }
  return null;
}

const through = (domain: string, reg: string) => (domain === reg ? domain : `${domain} (registered: ${reg})`);

/** Every signal that names a tenant, in SIGNAL_ORDER. */
export function customerEvidence(signals: CustomerSignals, answers: DirectoryAnswers): CustomerDecision['evidence'] {
  const out: CustomerDecision['evidence'] = [];
  const header = signals.tenantHeader;
  const headerTenant = header && typeof header.tenant === 'string' && TENANT_RE.test(header.tenant.trim()) ? header.tenant.trim() : null;
  if (headerTenant && header!.verified === true) out.push({ signal: 'tenant-header-verified', tenant: headerTenant, detail: 'our tenant header, covered by our verifying DKIM signature' });

  const c = signals.customer;
  for (const v of (c?.feedbackIds ?? []).slice(0, CUSTOMER_BOUNDS.feedbackIds)) {
    if (typeof v !== 'string') continue;
    for (const p of feedbackIdParts(v)) {
      const tenant = answers.feedbackIds.get(p);
      if (tenant) out.push({ signal: 'feedback-id', tenant, detail: `Feedback-ID part ${p}` });
    }
  }

  const mailFrom = bareMailFrom(signals.mailFrom);
  if (mailFrom) for (const v of answers.verp) out.push({ signal: 'verp', tenant: v.tenant, detail: `5321.MailFrom ${mailFrom} matches ${v.pattern}` });

  for (const s of (c?.dkim ?? []).slice(0, CUSTOMER_BOUNDS.dkim)) {
    const d = cleanDomain(s?.domain);
    const hit = registered(d, answers);
    if (hit && d) out.push({ signal: 'dkim-domain', tenant: hit.tenant, detail: `DKIM d=${through(d, hit.registered)}, signature not verified` });
    const i = identityDomain(s?.identity ?? null);
    const iHit = i && i !== d ? registered(i, answers) : null;
    if (iHit && i) out.push({ signal: 'dkim-domain', tenant: iHit.tenant, detail: `DKIM i=${through(i, iHit.registered)}, signature not verified` });
  }

  const mfDomain = cleanDomain(c?.mailFromDomain) ?? (mailFrom ? cleanDomain(mailFrom.slice(mailFrom.indexOf('@') + 1)) : null);
  const mfHit = registered(mfDomain, answers);
  if (mfHit && mfDomain) out.push({ signal: 'mail-from-domain', tenant: mfHit.tenant, detail: `5321.MailFrom domain ${through(mfDomain, mfHit.registered)}` });

  const fromDomain = cleanDomain(c?.fromDomain);
  const fromHit = registered(fromDomain, answers);
  if (fromHit && fromDomain) out.push({ signal: 'from-domain', tenant: fromHit.tenant, detail: `5322.From domain ${through(fromDomain, fromHit.registered)}` });

  if (headerTenant && header!.verified !== true) out.push({ signal: 'tenant-header-claimed', tenant: headerTenant, detail: 'our tenant header, not vouched for by our DKIM signature' });
  return out;
}

/**
 * The customer of a report, how it was found and how sure that is (see the module comment), with the reason. The
 * strongest confidence that has any signal decides: one tenant there is the answer (its strongest signal names it);
 * two or more is a conflict and no answer, whatever weaker signals say.
 */
export function resolveCustomer(signals: CustomerSignals, answers: DirectoryAnswers): CustomerDecision {
  const evidence = customerEvidence(signals, answers);
  if (!evidence.length) return { match: null, reason: 'no signal names a tenant: no tenant header, and no Feedback-ID, VERP address, DKIM domain or sender domain in the directory', evidence };
  for (const level of CONFIDENCES) {
    const here = evidence.filter((e) => CONFIDENCE_OF[e.signal] === level);
    if (!here.length) continue;
    const tenants = [...new Set(here.map((e) => e.tenant))];
    if (tenants.length > 1) {
      const named = tenants.map((t) => `${t} (${here.filter((e) => e.tenant === t).map((e) => e.detail).join('; ')})`).join(' and ');
      return { match: null, reason: `conflict: signals of ${level} confidence name different tenants: ${named}`, evidence };
    }
    const first = here[0]!;
    const agree = evidence.filter((e) => e !== first && e.tenant === first.tenant).length;
    const disagree = evidence.filter((e) => e.tenant !== first.tenant);
    const reason =
      `${first.detail} names ${first.tenant} (${level} confidence)` +
      (agree ? `; ${agree} other signal${agree === 1 ? '' : 's'} agree` : '') +
      (disagree.length ? `; weaker signals naming ${[...new Set(disagree.map((e) => e.tenant))].join(', ')} are outweighed` : '');
    return { match: { tenant: first.tenant, signal: first.signal, confidence: level, detail: first.detail }, reason, evidence };
  }
  return { match: null, reason: 'no signal names a tenant', evidence }; // not reached: every signal has a confidence
}

/** The customer alone (null when none, or when signals of equal strength disagree: resolveCustomer says why). */
export const findCustomer = (signals: CustomerSignals, answers: DirectoryAnswers): CustomerMatch | null => resolveCustomer(signals, answers).match;
