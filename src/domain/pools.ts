/**
 * Outbound delivery pools (seeds/outbound-delivery-pools.en.md): which of our outbound IP pools a message leaves
 * through, and why. Pure: no I/O, no DNS. Facts that cannot be known stay false/null.
 */
import { domainToASCII } from 'node:url';

export type PoolName = 'normal' | 'high-risk' | 'relay';

export const POOLS: readonly PoolName[] = Object.freeze(['normal', 'high-risk', 'relay'] as const);

/**
 * A routing-dataset entry: a tenant or a sending domain routed through a pool until expiresAt (null = until removed).
 * A type alias rather than an interface so that it is assignable to Record<string, unknown> (the routing change feed).
 */
export type PoolAssignment = {
  kind: 'tenant' | 'domain';
  key: string;
  pool: PoolName;
  reason: string;
  source: string;
  assignedAt: string;
  expiresAt: string | null;
};

/** Lower case, trimmed, without a trailing root dot. */
const normalizeDomain = (domain: string): string => domain.trim().toLowerCase().replace(/\.$/, '');

/** "tenant:<id>" / "domain:<lowercased domain>": the key of an assignment in the routing dataset. */
export const assignmentKey = (kind: 'tenant' | 'domain', key: string): string =>
  kind === 'tenant' ? `tenant:${key}` : `domain:${normalizeDomain(key)}`;

export interface MessageFacts {
  tenant: string | null;
  /** Domain of 5321.MailFrom, else of 5322.From, lowercased. */
  senderDomain: string | null;
  /** A non-delivery report / DSN / bounce. */
  isNdr: boolean;
  /** Judged spam by our filter. */
  spamVerdict: boolean;
  /** Exceeds the service sending limits or the outbound spam policy. */
  overSendingLimits: boolean;
  /** null = unknown (never looked up). */
  domainHasA: boolean | null;
  domainHasMx: boolean | null;
  /** Forwarded or relayed by us. */
  forwarded: boolean;
  /** The sender is in one of the tenant's accepted domains. */
  senderInAcceptedDomain: boolean;
  /** SPF passed when the message came to us. */
  spfPass: boolean;
  /** DKIM for the sender domain passed when the message came to us. */
  dkimPassForSender: boolean;
}

export interface Classification {
  pool: PoolName;
  /** Every rule that applied, readable English, in order; the first is the deciding one. */
  reasons: string[];
  /**
   * The same reasons as message keys (`pools.reason.<key>`) and parameters, in the same order, for a page in the
   * reader's language (src/features/pools/reasons.ts). An assignment's staff reason is not among the parameters.
   */
  steps: PoolReason[];
}

/** Why a rule gave way: `highRisk` (the high-risk rules), `relay` (the stricter relay assignment), `assignment` (an explicit assignment). */
export type Precedence = 'highRisk' | 'relay' | 'assignment';

export type PoolReason =
  | { key: 'ndr' | 'spam' | 'overLimits' | 'normal' }
  | { key: 'noDns'; domain: string }
  | { key: 'assignment'; kind: 'tenant' | 'domain'; name: string; parent: string | null; pool: PoolName; until: string | null; but: Precedence | null }
  | { key: 'forwardedUnverified'; but: Precedence | null }
  | { key: 'forwardedVerified'; conditions: Array<'acceptedDomain' | 'spf' | 'dkim'>; outcome: 'normal' | 'notRelay' };

/** The domain itself, then each parent domain: mail.example.com → mail.example.com, example.com, com. */
export function domainAndParents(domain: string): string[] {
  const labels = normalizeDomain(domain).split('.');
  const out: string[] = [];
  for (let i = 0; i < labels.length; i++) {
    const d = labels.slice(i).join('.');
    if (d !== '' && !labels.slice(i).includes('')) out.push(d);
  }
  return out;
}

/** Live at `now`: no expiry, or an expiry strictly after now (an unreadable expiry counts as expired, as for listings). */
export const isLive = (a: { expiresAt: string | null }, now: Date): boolean =>
  a.expiresAt === null || Date.parse(a.expiresAt) > now.getTime();

interface Match {
  assignment: PoolAssignment;
  /** The domain key that matched (domain assignments only). */
  matchedDomain?: string;
}

/**
 * The live assignments that apply: the tenant's first, then the sender domain's, most specific domain first.
 * Within one key, the input order is kept. Entries with an unknown pool are ignored.
 */
function applicableAssignments(tenant: string | null, senderDomain: string | null, assignments: PoolAssignment[], now: Date): Match[] {
  const usable = assignments.filter((a) => POOLS.includes(a.pool) && isLive(a, now));
  const out: Match[] = [];
  if (tenant !== null && tenant !== '') {
    for (const a of usable) if (a.kind === 'tenant' && a.key === tenant) out.push({ assignment: a });
  }
  if (senderDomain !== null && senderDomain.trim() !== '') {
    for (const d of domainAndParents(senderDomain)) {
      for (const a of usable) if (a.kind === 'domain' && normalizeDomain(a.key) === d) out.push({ assignment: a, matchedDomain: d });
    }
  }
  return out;
}

function untilText(a: PoolAssignment): string {
  return a.expiresAt === null ? 'until removed' : `until ${a.expiresAt}`;
}

function describeAssignment(m: Match, senderDomain: string | null): string {
  const a = m.assignment;
  const why = a.reason.trim() === '' ? '' : ` (reason: ${a.reason.trim()})`;
  if (a.kind === 'tenant') return `Tenant ${a.key} is assigned to the ${a.pool} pool ${untilText(a)}${why}.`;
  const sender = senderDomain === null ? '' : normalizeDomain(senderDomain);
  const through = m.matchedDomain !== undefined && m.matchedDomain !== sender ? ` through its parent domain ${m.matchedDomain}` : '';
  return `The sending domain ${sender} is assigned to the ${a.pool} pool${through} ${untilText(a)}${why}.`;
}

function assignmentStep(m: Match, senderDomain: string | null, but: Precedence | null): PoolReason {
  const a = m.assignment;
  const sender = senderDomain === null ? '' : normalizeDomain(senderDomain);
  const parent = a.kind === 'domain' && m.matchedDomain !== undefined && m.matchedDomain !== sender ? m.matchedDomain : null;
  return { key: 'assignment', kind: a.kind, name: a.kind === 'tenant' ? a.key : sender, parent, pool: a.pool, until: a.expiresAt, but };
}

function escapeConditions(facts: MessageFacts): string[] {
  const out: string[] = [];
  if (facts.senderInAcceptedDomain) out.push('the sender is in an accepted domain of the tenant');
  if (facts.spfPass) out.push('SPF passed when it came to us');
  if (facts.dkimPassForSender) out.push('DKIM for the sender domain passed when it came to us');
  return out;
}

function escapeConditionIds(facts: MessageFacts): Array<'acceptedDomain' | 'spf' | 'dkim'> {
  const out: Array<'acceptedDomain' | 'spf' | 'dkim'> = [];
  if (facts.senderInAcceptedDomain) out.push('acceptedDomain');
  if (facts.spfPass) out.push('spf');
  if (facts.dkimPassForSender) out.push('dkim');
  return out;
}

function joinAnd(parts: string[]): string {
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1] ?? ''}`;
}

const UNVERIFIED =
  'It was forwarded or relayed by us and the original sender could not be verified (the sender is not in an accepted domain ' +
  'of the tenant, SPF did not pass and DKIM for the sender domain did not pass when it came to us)';

export const NORMAL_REASON = 'No rule moved it out of the normal pool.';

/**
 * Decides the outbound pool. High-risk rules always win (NDR, live high-risk assignment of the tenant or sending
 * domain or a parent domain, spam verdict, over the sending limits, sender domain with neither A nor MX record).
 * Otherwise a live explicit assignment to relay or normal decides (relay when both apply); otherwise a forwarded
 * message whose sender cannot be verified goes through the relay pool; otherwise normal.
 */
export function classify(facts: MessageFacts, assignments: PoolAssignment[], now: Date): Classification {
  const matches = applicableAssignments(facts.tenant, facts.senderDomain, assignments, now);
  const domainText = facts.senderDomain === null || facts.senderDomain.trim() === '' ? '' : ` ${normalizeDomain(facts.senderDomain)}`;

  const highRisk: string[] = [];
  const highRiskSteps: PoolReason[] = [];
  if (facts.isNdr) {
    highRisk.push('It is a non-delivery report (bounce or delivery status notification), and every NDR leaves through the high-risk pool.');
    highRiskSteps.push({ key: 'ndr' });
  }
  for (const m of matches) {
    if (m.assignment.pool !== 'high-risk') continue;
    highRisk.push(describeAssignment(m, facts.senderDomain));
    highRiskSteps.push(assignmentStep(m, facts.senderDomain, null));
  }
  if (facts.spamVerdict) {
    highRisk.push('Our filter judged it to be spam, and spam leaves through the high-risk pool.');
    highRiskSteps.push({ key: 'spam' });
  }
  if (facts.overSendingLimits) {
    highRisk.push('It exceeds the service sending limits or the outbound spam policy, so it leaves through the high-risk pool.');
    highRiskSteps.push({ key: 'overLimits' });
  }
  if (facts.domainHasA === false && facts.domainHasMx === false) {
    highRisk.push(`The sending domain${domainText} has no A record and no MX record in public DNS, so it always leaves through the high-risk pool.`);
    highRiskSteps.push({ key: 'noDns', domain: domainText.trim() });
  }

  const relayAssigned = matches.filter((m) => m.assignment.pool === 'relay');
  const normalAssigned = matches.filter((m) => m.assignment.pool === 'normal');
  const escapes = facts.forwarded ? escapeConditions(facts) : [];
  const relayRule = facts.forwarded && escapes.length === 0;

  let pool: PoolName;
  if (highRisk.length > 0) pool = 'high-risk';
  else if (relayAssigned.length > 0) pool = 'relay';
  else if (normalAssigned.length > 0) pool = 'normal';
  else pool = relayRule ? 'relay' : 'normal';

  const precedence = highRisk.length > 0 ? 'the high-risk rules take precedence' : 'the explicit pool assignment takes precedence';
  const PRECEDENCE: Record<Precedence, string> = { highRisk: 'the high-risk rules take precedence', relay: 'the stricter relay assignment takes precedence', assignment: 'the explicit pool assignment takes precedence' };
  const reasons: string[] = [];
  const steps: PoolReason[] = [];
  const addAssignments = (list: Match[], but: Precedence | null) => {
    for (const m of list) {
      const text = describeAssignment(m, facts.senderDomain);
      reasons.push(but === null ? text : `${text.slice(0, -1)}, but ${PRECEDENCE[but]}.`);
      steps.push(assignmentStep(m, facts.senderDomain, but));
    }
  };

  if (pool === 'high-risk') {
    reasons.push(...highRisk);
    steps.push(...highRiskSteps);
    addAssignments([...relayAssigned, ...normalAssigned], 'highRisk');
  } else if (relayAssigned.length > 0) {
    addAssignments(relayAssigned, null);
    addAssignments(normalAssigned, 'relay');
  } else if (normalAssigned.length > 0) {
    addAssignments(normalAssigned, null);
  }

  if (relayRule) {
    const decidedByRule = highRisk.length === 0 && relayAssigned.length === 0 && normalAssigned.length === 0;
    reasons.push(
      decidedByRule
        ? `${UNVERIFIED}, so it leaves through the relay pool.`
        : `${UNVERIFIED}, so the forwarding rule alone would send it through the relay pool, but ${precedence}.`,
    );
    steps.push({ key: 'forwardedUnverified', but: decidedByRule ? null : highRisk.length > 0 ? 'highRisk' : 'assignment' });
  } else if (facts.forwarded) {
    const outcome = pool === 'normal' ? 'so it avoids the relay pool and leaves through the normal pool' : 'so the forwarding rule does not send it to the relay pool';
    reasons.push(
      `It was forwarded or relayed by us, but ${joinAnd(escapes)}, ${outcome}; ` +
        'because the sender is authenticated, the Sender Rewriting Scheme (SRS) is used to rewrite the envelope sender.',
    );
    steps.push({ key: 'forwardedVerified', conditions: escapeConditionIds(facts), outcome: pool === 'normal' ? 'normal' : 'notRelay' });
  }
  // A forwarded, verified message in the normal pool: the forwarding note is the deciding reason (why not relay).
  if (reasons.length === 0) {
    reasons.push(NORMAL_REASON);
    steps.push({ key: 'normal' });
  }
  return { pool, reasons, steps };
}

// ---------------------------------------------------------------------------------------------------------------
// Facts from pasted headers (public "which pool would this leave through, and why" page).

export interface HeaderLine {
  key: string;
  value: string;
}

const TENANT_RE = /^[A-Za-z0-9._-]{1,64}$/;
const NDR_SUBJECT_HINTS = ['undeliverable', 'delivery status notification', 'mail delivery failed', 'returned mail', 'undelivered mail'];
const FORWARD_HEADERS = ['resent-from', 'resent-sender', 'x-forwarded-to', 'x-forwarded-for', 'x-ms-exchange-inbox-rules-loop'];

/** Unfolds a header value (CRLF/LF followed by white space) and trims it. */
const unfold = (value: string): string => value.replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]+/g, ' ').trim();

/** Removes RFC 5322 comments (nested parentheses), leaving quoted strings alone. */
export function stripComments(value: string): string {
  let out = '';
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (c === '\\' && (quoted || depth > 0)) {
      if (depth === 0) out += c + (value[i + 1] ?? '');
      i++;
      continue;
    }
    if (depth === 0 && c === '"') {
      quoted = !quoted;
      out += c;
    } else if (!quoted && c === '(') {
      depth++;
      if (depth === 1) out += ' ';
    } else if (!quoted && c === ')' && depth > 0) {
      depth--;
    } else if (depth === 0) {
      out += c;
    }
  }
  return out;
}

/** Decodes RFC 2047 encoded words (B and Q) where the charset is known; leaves anything else as it is. */
export function decodeEncodedWords(value: string): string {
  return value
    .replace(/(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)/g, '$1')
    .replace(/=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g, (whole, charset: string, enc: string, text: string) => {
      try {
        const cs = charset.replace(/\*.*$/, '');
        let bytes: Uint8Array;
        if (enc.toUpperCase() === 'B') {
          bytes = Uint8Array.from(Buffer.from(text, 'base64'));
        } else {
          const raw = text.replace(/_/g, ' ');
          const list: number[] = [];
          for (let i = 0; i < raw.length; i++) {
            const hex = raw[i] === '=' ? raw.slice(i + 1, i + 3) : '';
            if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
              list.push(parseInt(hex, 16));
              i += 2;
            } else {
              list.push(raw.charCodeAt(i) & 0xff);
            }
          }
          bytes = Uint8Array.from(list);
        }
        return new TextDecoder(cs, { fatal: false }).decode(bytes);
      } catch {
        return whole;
      }
    });
}

interface Mailbox {
  local: string;
  domain: string | null;
}

/** The first mailbox of an address header: `"Name" <a@b>`, `a@b (comment)`, `<>` → null. */
export function firstMailbox(value: string): Mailbox | null {
  const text = stripComments(unfold(value));
  let addr: string | undefined;
  // Look for <...> outside quoted strings ("a <b>" <c@d> is c@d).
  const masked = text.replace(/"(?:[^"\\]|\\.)*"/g, (q) => '_'.repeat(q.length));
  const angle = /<([^<>]*)>/.exec(masked);
  if (angle) {
    addr = text.slice(angle.index + 1, angle.index + 1 + (angle[1] ?? '').length).trim();
  } else {
    // No angle brackets: the first token holding an @, after any group name ("undisclosed: a@b;").
    const withoutGroup = text.replace(/^[^@"]*:/, '');
    addr = withoutGroup.split(/[\s,;]+/).find((t) => t.includes('@'));
  }
  if (addr === undefined || addr === '') return null;
  const at = addr.lastIndexOf('@');
  if (at < 0) return null;
  const local = addr.slice(0, at).replace(/^@[^:]*:/, '').replace(/^"(.*)"$/, '$1');
  const domainRaw = addr.slice(at + 1).trim().replace(/\.$/, '');
  if (domainRaw === '' || domainRaw.startsWith('[')) return { local, domain: null };
  const domain = domainToASCII(domainRaw);
  return { local, domain: domain === '' ? null : domain.toLowerCase() };
}

/**
 * The results in an Authentication-Results value (comments removed): `method=result` with its `ptype.property=value`
 * pairs. The authserv-id part has no `=` and is skipped; values written without one (as Exchange Online does) work too.
 */
function authResults(value: string): Array<{ method: string; result: string; props: Map<string, string> }> {
  const out: Array<{ method: string; result: string; props: Map<string, string> }> = [];
  for (const part of stripComments(unfold(value)).split(';')) {
    const m = /^\s*([A-Za-z0-9_-]+)\s*=\s*([A-Za-z0-9_-]+)(.*)$/s.exec(part);
    if (!m) continue;
    const props = new Map<string, string>();
    for (const p of (m[3] ?? '').matchAll(/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)\s*=\s*("[^"]*"|[^\s;]+)/g)) {
      props.set((p[1] ?? '').toLowerCase(), (p[2] ?? '').replace(/^"(.*)"$/, '$1'));
    }
    out.push({ method: (m[1] ?? '').toLowerCase(), result: (m[2] ?? '').toLowerCase(), props });
  }
  return out;
}

const firstToken = (value: string): string => (stripComments(unfold(value)).split(/[;\s]/)[0] ?? '').toLowerCase();

/**
 * What can be told from headers alone (keys are matched case-insensitively, folded values are unfolded).
 * Never does DNS: domainHasA/domainHasMx stay null, overSendingLimits stays false.
 */
export function factsFromHeaders(headers: HeaderLine[], opts: { tenantHeader: string; acceptedDomains?: string[] }): MessageFacts {
  const lines = headers.map((h) => ({ key: h.key.trim().toLowerCase(), value: unfold(h.value) }));
  const all = (key: string) => lines.filter((h) => h.key === key).map((h) => h.value);
  const first = (key: string): string | undefined => lines.find((h) => h.key === key)?.value;

  const tenantValue = first(opts.tenantHeader.trim().toLowerCase());
  const tenant = tenantValue !== undefined && TENANT_RE.test(tenantValue) ? tenantValue : null;

  const returnPath = first('return-path');
  const nullReturnPath = returnPath !== undefined && /^<\s*>$/.test(stripComments(returnPath).trim());
  const from = first('from');
  const envelope = returnPath !== undefined && !nullReturnPath ? firstMailbox(returnPath) : null;
  const fromBox = from !== undefined ? firstMailbox(from) : null;
  const senderDomain = envelope?.domain ?? fromBox?.domain ?? null;

  const autoSubmitted = all('auto-submitted').map(firstToken);
  const subject = decodeEncodedWords(first('subject') ?? '').toLowerCase();
  const reportCt = all('content-type').some(
    (v) => /^\s*multipart\/report\s*(;|$)/i.test(v) && /;\s*report-type\s*=\s*"?delivery-status"?\s*(;|$)/i.test(stripComments(v)),
  );
  const daemonFrom = fromBox !== null && ['mailer-daemon', 'postmaster'].includes(fromBox.local.toLowerCase());
  const daemonNdr =
    daemonFrom &&
    autoSubmitted.some((t) => t === 'auto-replied' || t === 'auto-generated') &&
    NDR_SUBJECT_HINTS.some((hint) => subject.includes(hint));
  const isNdr = reportCt || nullReturnPath || daemonNdr;

  const spamVerdict =
    all('x-spam-flag').some((v) => /^yes$/i.test(v.trim())) ||
    all('x-spam-status').some((v) => /^yes\b/i.test(v.trim())) ||
    all('x-forefront-antispam-report').some((v) => /(^|;)\s*SFV\s*:\s*SPM\s*(;|$)/i.test(v));

  const results = all('authentication-results').flatMap(authResults);
  const receivedSpfPass = all('received-spf').some((v) => firstToken(v) === 'pass');
  const spfPass = receivedSpfPass || results.some((r) => r.method === 'spf' && r.result === 'pass');
  const senderChain = senderDomain === null ? [] : domainAndParents(senderDomain);
  const dkimPassForSender = results.some((r) => {
    if (r.method !== 'dkim' || r.result !== 'pass') return false;
    const d = r.props.get('header.d') ?? r.props.get('header.i')?.replace(/^.*@/, '');
    return d !== undefined && d !== '' && senderChain.includes(normalizeDomain(d));
  });

  const forwarded = FORWARD_HEADERS.some((k) => lines.some((h) => h.key === k)) || autoSubmitted.includes('auto-forwarded');

  const accepted = new Set((opts.acceptedDomains ?? []).map(normalizeDomain).filter((d) => d !== ''));
  const senderInAcceptedDomain = senderChain.some((d) => accepted.has(d));

  return {
    tenant,
    senderDomain,
    isNdr,
    spamVerdict,
    overSendingLimits: false,
    domainHasA: null,
    domainHasMx: null,
    forwarded,
    senderInAcceptedDomain,
    spfPass,
    dkimPassForSender,
  };
}
