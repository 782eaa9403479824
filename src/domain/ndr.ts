/**
 * Reading a non-delivery report (NDR, bounce, DSN) that a sender pasted: the enhanced status codes (RFC 3463
 * `X.Y.Z`) with the remote server's text, the IP addresses that text names, the remote host and the reporting MTA;
 * then what the primary code means for the sender (`adviseNdr`).
 *
 * Pure and bounded: at most NDR_MAX_CHARS characters are read, every line is cut at MAX_LINE characters, and each
 * regular expression below has no nested unbounded quantifier, so the time is linear in the (bounded) input.
 *
 * Forms read (see test/unit/ndr.test.ts for the texts they come from):
 * - SMTP replies anywhere in a line: `550 5.7.606 …`, `550-5.7.26 …` multi-line replies (also folded into one line
 *   by Postfix), Gmail's `550 550 5.1.1 …`, Sendmail's `<<< 550 5.1.1 …` transcript;
 * - the fields of a message/delivery-status part: `Status: 5.7.1`, `Diagnostic-Code: smtp; 550 5.7.1 …`,
 *   `Reporting-MTA: dns; host`, `Remote-MTA: dns; host`;
 * - Exchange forms: `#550 5.7.1 RESOLVER.RST…`, `< #5.0.0 smtp; …>`, `Remote Server returned '550 5.7.606 …'`,
 *   `Remote Server at host (ip) returned '…'`, `Generating server: host`;
 * - Postfix `host name[ip] said:`, Exim `host name [ip]:`, Sendmail `… while talking to name.:`.
 * Reading stops where the returned original message begins (its text could contain anything).
 */
import { parseAddress, parseNetwork, specialPurpose } from './ip.js';

/** Characters of a paste that are read; the rest is ignored (the codes are near the top of every NDR). */
export const NDR_MAX_CHARS = 100_000;
/** Characters of one line that are looked at (base64 and header lines are far shorter; a longer one is noise). */
const MAX_LINE = 2_000;
/** Characters of one unfolded line (continuation lines joined). */
const MAX_LOGICAL = 6_000;
/** Characters of a server's text kept for display. */
const MAX_TEXT = 600;
/** Distinct status codes and addresses kept. */
const MAX_CODES = 12;
const MAX_ADDRESSES = 20;

export type StatusSource = 'smtp-reply' | 'diagnostic-code' | 'exchange' | 'dsn-status' | 'text';

export interface StatusFinding {
  /** `5.7.606` */
  code: string;
  cls: 4 | 5;
  subject: number;
  detail: number;
  /** The basic SMTP reply code written with it (`550`), if any. */
  reply: string | null;
  /** The remote server's text after the code, whitespace collapsed, at most MAX_TEXT characters. */
  text: string;
  source: StatusSource;
  /** IP addresses the text names, canonical (e.g. the banned sending IP in brackets). */
  addresses: string[];
}

export interface NdrReading {
  /** One entry per distinct code (4.x.x and 5.x.x), in order of first appearance. */
  statuses: StatusFinding[];
  /** A basic reply code (`554`) seen when no enhanced code was. */
  replyOnly: string | null;
  remoteHost: { name: string | null; ip: string | null } | null;
  reportingMta: string | null;
  /** Every IP address named in the report part (not the returned message), canonical, first 20. */
  addresses: string[];
  /** The paste was longer than NDR_MAX_CHARS: only its beginning was read. */
  truncated: boolean;
}

// ---- Patterns (all linear: bounded repetitions, or unbounded ones over disjoint classes) ----

/** An enhanced status code, with the reply code written before it: `550 5.7.1`, `550-5.7.1`, `#550 5.7.1`, `#5.7.1`. */
const CODE = /(?<![\w.])(?:(#)?([45]\d\d)[ -]{1,4}|(#))?([45])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)/g;
/** A basic reply code where replies are written: at the start, after `:` `;` a quote or Sendmail's `<<<`. */
const REPLY_ONLY = /(?:^|[:;'"]\s{0,3}|<<<\s{0,3})([45]\d\d)(?:[ -]|$)/;
/** A run of characters an IPv4 or IPv6 address is written with (validated by parseAddress afterwards). */
const ADDRESS_RUN = /(?<![\w:.\/])[0-9A-Fa-f:.]{3,45}(?![\w:\/])/g;
const HOST_NAME = /^[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63}){1,20}$/;
/** Header fields of the NDR's own header that hold ids, versions and routes, never a status: skipped. */
const NOISY_FIELD = /^(?:received|dkim-signature|arc-[\w-]{1,40}|x-[\w-]{1,80}|authentication-results|message-id|references|in-reply-to|thread-[\w-]{1,40}|date|arrival-date|last-attempt-date|will-retry-until|return-path|delivered-to|content-[\w-]{1,40}|mime-version|list-[\w-]{1,40}):/i;
/** Where the returned original message begins. */
const STOP = /^(?:-{2,}\s*)?(?:this is a copy of the message|original message|below this line is a copy of the message|undelivered message follows|original message headers:?$|content-type:\s*(?:message\/(?:rfc822|global)|text\/rfc822-headers))/i;
const FIELD = /^([A-Za-z][A-Za-z0-9-]{0,60}):/;
const MULTI_REPLY = /^(?:<<<\s{0,3})?(\d{3})-/;

const REMOTE_PATTERNS: RegExp[] = [
  /\bremote server at\s+([A-Za-z0-9._-]{1,253})\s+\(([0-9A-Fa-f:.]{2,45})\)/i, // Exchange 2013+
  /\bhost\s+([A-Za-z0-9._-]{1,253})\s?\[([0-9A-Fa-f:.]{2,45})\]/i, // Postfix host name[ip] said, Exim host name [ip]:
  /\bconnect to\s+([A-Za-z0-9._-]{1,253})\[([0-9A-Fa-f:.]{2,45})\]/i, // Postfix connect to name[ip]:25
  /^remote-mta:\s*dns;\s*([A-Za-z0-9._-]{1,253})/i, // DSN field, optionally with (ip, …)
  /\bwhile talking to\s+([A-Za-z0-9._-]{1,253}):/i, // Sendmail
];
const REPORTING_PATTERNS: RegExp[] = [
  /^reporting-mta:\s*dns;\s*([A-Za-z0-9._-]{1,253})/i,
  /^generating server:\s*([A-Za-z0-9._-]{1,253})/i,
  /\bthis is the mail system at host\s+([A-Za-z0-9._-]{1,253})/i,
  /^from:[^<\n]{0,200}<(?:mailer-daemon|postmaster)@([A-Za-z0-9._-]{1,253})>/i,
];

const SOURCE_RANK: Record<StatusSource, number> = { 'smtp-reply': 4, 'diagnostic-code': 4, exchange: 4, 'dsn-status': 2, text: 1 };

interface Logical {
  /** The physical lines joined so far (joined with spaces at the end: no string is copied once per line). */
  parts: string[];
  length: number;
  indent: number;
  field: boolean;
  multi: string | null;
}

/** The paste as lines: line ends normalised, compatibility forms (full-width digits) folded, quoted-printable soft breaks undone. */
function normalise(input: string): { text: string; truncated: boolean } {
  const truncated = input.length > NDR_MAX_CHARS;
  let text = (truncated ? input.slice(0, NDR_MAX_CHARS) : input).normalize('NFKC').replace(/\r\n?/g, '\n');
  // A raw message source in quoted-printable splits lines with `=` at the end and writes `=` as `=3D`.
  if (/quoted-printable/i.test(text)) text = text.replace(/=\n/g, '').replace(/=3D/gi, '=').replace(/=20/g, ' ').replace(/=09/g, '\t');
  // `[IPv6:2001:db8::1]` (an address literal) names the address after the tag.
  text = text.replace(/IPv6:/gi, 'IPv6 ');
  return { text, truncated };
}

/**
 * Physical lines joined into logical ones: a header field with its folded continuation, a line indented deeper than
 * the one it follows (Postfix and Exim wrap the remote text so), and the lines of a multi-line SMTP reply (`550-…`).
 */
function logicalLines(text: string): string[] {
  const out: string[] = [];
  let cur: Logical | null = null;
  const flush = () => {
    if (cur) out.push(cur.parts.join(' ').slice(0, MAX_LOGICAL));
    cur = null;
  };
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end === start) {
      flush(); // an empty line ends a logical one
      start = end + 1;
      continue;
    }
    const raw = text.slice(start, Math.min(end, start + MAX_LINE));
    start = end + 1;
    const trimmed = raw.trim();
    if (STOP.test(trimmed)) break;
    if (!trimmed) {
      flush();
      continue;
    }
    const indent = raw.length - raw.trimStart().length;
    const c = cur as Logical | null;
    if (c) {
      const folded = indent > 0 && (c.field || indent > c.indent);
      const replyGoesOn = c.multi !== null && (trimmed.startsWith(`${c.multi}-`) || trimmed.startsWith(`${c.multi} `) || trimmed.startsWith(`<<< ${c.multi}`));
      if (folded || replyGoesOn) {
        if (c.length < MAX_LOGICAL) {
          c.parts.push(trimmed);
          c.length += trimmed.length + 1;
        }
        if (replyGoesOn && !/^(?:<<<\s{0,3})?\d{3}-/.test(trimmed)) c.multi = null; // `550 ` ends the reply
        continue;
      }
    }
    flush();
    cur = { parts: [trimmed], length: trimmed.length, indent, field: indent === 0 && FIELD.test(trimmed), multi: MULTI_REPLY.exec(trimmed)?.[1] ?? null };
  }
  flush();
  return out;
}

/** Every valid IP address named in a text, canonical, in order, once each. */
export function addressesIn(text: string, into: string[] = [], max = MAX_ADDRESSES): string[] {
  ADDRESS_RUN.lastIndex = 0;
  const tried = new Set<string>(); // a text that names one address many times parses it once
  for (let m = ADDRESS_RUN.exec(text); m && into.length < max; m = ADDRESS_RUN.exec(text)) {
    let run = m[0];
    while (run.endsWith('.')) run = run.slice(0, -1);
    if (tried.has(run) || tried.size > 200) continue;
    tried.add(run);
    const dots = run.split('.').length - 1;
    if (!run.includes(':') && dots !== 3) continue;
    try {
      const addr = parseAddress(run).text;
      if (!into.includes(addr)) into.push(addr);
    } catch {
      // a time (10:00:00), a version (15.20.4.5 is valid and kept), a hex id: not an address
    }
  }
  return into;
}

/** Quotes and `>` that close a quoted reply (`returned '550 …'`, `< #5.0.0 …>`), stripped from its end. */
const CLOSERS = new Set(["'", '"', '>', ' ']);

/** The server's words for display: whitespace collapsed, leading separators and trailing closers off, bounded. */
function cleanText(s: string): string {
  let text = s.replace(/\s+/g, ' ').replace(/^[ :;,'"-]+/, '');
  let end = text.length;
  while (end > 0 && CLOSERS.has(text[end - 1]!)) end--; // a loop, not /['">]+\s*$/: that one is quadratic on a run of quotes
  text = text.slice(0, end);
  return text.slice(0, MAX_TEXT).trim();
}

function sourceOf(line: string, exchangeMark: boolean, reply: string | undefined): StatusSource {
  if (/^status:/i.test(line)) return 'dsn-status';
  if (/^diagnostic-code:/i.test(line)) return 'diagnostic-code';
  if (exchangeMark) return 'exchange';
  if (reply) return 'smtp-reply';
  return 'text';
}

const hostOf = (name: string | undefined): string | null => {
  if (!name) return null;
  const host = name.replace(/\.+$/, '').toLowerCase();
  return HOST_NAME.test(host) ? host : null;
};

const ipOf = (text: string | undefined): string | null => {
  if (!text) return null;
  try {
    return parseAddress(text.replace(/\.+$/, '')).text;
  } catch {
    return null;
  }
};

/** Reads a pasted NDR. Never throws; any input gives a reading (possibly empty). */
export function parseNdr(input: string): NdrReading {
  const { text, truncated } = normalise(typeof input === 'string' ? input : '');
  const byCode = new Map<string, StatusFinding>();
  const addresses: string[] = [];
  let replyOnly: string | null = null;
  let remoteHost: NdrReading['remoteHost'] = null;
  let remoteRank = Infinity;
  let reportingMta: string | null = null;
  let reportingRank = Infinity;
  let lastStatus: StatusFinding | null = null;

  for (const line of logicalLines(text)) {
    for (let i = 0; i < REPORTING_PATTERNS.length && i < reportingRank; i++) {
      const host = hostOf(REPORTING_PATTERNS[i]!.exec(line)?.[1]);
      if (host) {
        reportingMta = host;
        reportingRank = i;
      }
    }
    if (NOISY_FIELD.test(line)) continue;
    addressesIn(line, addresses);
    for (let i = 0; i < REMOTE_PATTERNS.length && i < remoteRank; i++) {
      const m = REMOTE_PATTERNS[i]!.exec(line);
      const name = hostOf(m?.[1]);
      const ip = ipOf(m?.[2]) ?? (i === 3 && m ? (addressesIn(line.slice(m[0].length), [], 1)[0] ?? null) : null);
      if (m && (name || ip)) {
        remoteHost = { name, ip };
        remoteRank = i;
      }
    }

    // The codes of this line; consecutive occurrences of one code (a multi-line reply) give one text.
    CODE.lastIndex = 0;
    const hits: Array<{ code: string; reply?: string; exchange: boolean; index: number; end: number }> = [];
    for (let m = CODE.exec(line); m; m = CODE.exec(line)) {
      hits.push({ code: `${m[4]}.${Number(m[5])}.${Number(m[6])}`, reply: m[2], exchange: Boolean(m[1] || m[3]), index: m.index, end: m.index + m[0].length });
    }
    // A `Diagnostic-Code:` without an enhanced code (`X-Postfix; connect to … timed out`) explains the `Status:` before it.
    if (!hits.length && lastStatus && !lastStatus.text && /^diagnostic-code:/i.test(line)) {
      lastStatus.text = cleanText(line.slice(line.indexOf(':') + 1).replace(/^\s*[\w-]{1,20};/, ''));
      lastStatus = null;
    }
    if (!hits.length && !replyOnly && byCode.size === 0) {
      const r = REPLY_ONLY.exec(line);
      if (r) replyOnly = r[1]!;
    }
    for (let h = 0; h < hits.length; ) {
      const first = hits[h]!;
      let j = h;
      let raw = '';
      while (j < hits.length && hits[j]!.code === first.code) {
        raw += ` ${line.slice(hits[j]!.end, hits[j + 1]?.index ?? line.length)}`;
        j++;
      }
      const group = hits.slice(h, j);
      h = j;
      const [cls, subject, detail] = first.code.split('.').map(Number) as [number, number, number];
      const reply = group.find((x) => x.reply)?.reply;
      const source = sourceOf(line, group.some((x) => x.exchange), reply);
      const finding: StatusFinding = {
        code: first.code,
        cls: cls as 4 | 5,
        subject,
        detail,
        reply: reply ?? null,
        text: cleanText(raw),
        source,
        addresses: addressesIn(raw, [], 5),
      };
      const seen = byCode.get(finding.code);
      if (source === 'dsn-status') lastStatus = seen ?? finding;
      if (!seen) {
        if (byCode.size < MAX_CODES) byCode.set(finding.code, finding);
        continue;
      }
      // Keep the most informative writing of a code: the better source, else the longer text; addresses add up.
      const better = SOURCE_RANK[finding.source] > SOURCE_RANK[seen.source] || (SOURCE_RANK[finding.source] === SOURCE_RANK[seen.source] && finding.text.length > seen.text.length);
      if (better) {
        seen.text = finding.text || seen.text;
        seen.source = finding.source;
        seen.reply = finding.reply ?? seen.reply;
      }
      for (const a of finding.addresses) if (!seen.addresses.includes(a) && seen.addresses.length < 5) seen.addresses.push(a);
    }
  }
  return { statuses: [...byCode.values()], replyOnly: byCode.size ? null : replyOnly, remoteHost, reportingMta, addresses, truncated };
}

// ---- What it means --------------------------------------------------------------------------------------------

export type NdrKind =
  | 'ourListing'
  | 'ourStaff'
  | 'ourTenant'
  | 'microsoftList'
  | 'microsoftTenant'
  | 'otherBlocklist'
  | 'spam'
  | 'authentication'
  | 'relayDenied'
  | 'policy'
  | 'unknownUser'
  | 'badDomain'
  | 'mailboxFull'
  | 'tooLarge'
  | 'throttled'
  | 'temporary'
  | 'generic'
  | 'none';

/** The kinds that are about our own blocked-senders list or our tenants. */
export const OUR_KINDS: ReadonlySet<NdrKind> = new Set(['ourListing', 'ourStaff', 'ourTenant']);

export interface NdrAdvice {
  kind: NdrKind;
  /** The code that decided, or null when none was found. */
  primary: StatusFinding | null;
  /** The public IP to delist (our kinds): the one the server's text names. */
  ip: string | null;
  /** A listed range the text names instead of an address (`[198.51.100.0/24]`): the sender enters its own IP in it. */
  range: string | null;
  /** The rejection was written by Microsoft 365 (its text or its host says so). */
  microsoft: boolean;
  /** Whether the report is about our list or our tenants. */
  ours: boolean;
}

/** Microsoft 365 writes these into its own rejections (delist portal, protection hosts, its `AS(nnnn)` rule ids). */
const MICROSOFT = /sender\.office\.com|delist@(?:messaging\.)?microsoft\.com|protection\.outlook\.com|\.prod\.outlook\.com|go\.microsoft\.com|\bAS\(\d{1,12}\)/i;
const MICROSOFT_HOST = /(?:^|\.)(?:outlook\.com|hotmail\.com|office365\.com|microsoft\.com)$/i;
const NAMED_LIST = /spamhaus|spamcop|barracuda|sorbs|uceprotect|surbl|abuseat|\bcbl\b|\brbl\b|dnsbl|block\s?list|black\s?list|blocklisted|blacklisted|deny\s?list|\(S3150\)|\[BL\d{1,3}\]|part of their network is on our block list/i;
const SPAM = /spam|unsolicited|suspicious|reputation|bulk|policy reasons|\[TS0\d\]/i;
const RELAY = /relay|client was not authenticated|send anonymous mail|authentication is required for relay/i;
const AUTHENTICATION_CODES = new Set([20, 21, 22, 23, 24, 25, 26, 27, 509, 515]);

function kindOf(f: StatusFinding, microsoft: boolean): NdrKind {
  const { cls, subject, detail, text } = f;
  if (subject === 7) {
    if (detail >= 606 && detail <= 649) return microsoft ? 'microsoftList' : 'ourListing';
    if (detail === 511) return microsoft ? 'microsoftList' : 'ourStaff';
    if (detail === 750) return microsoft ? 'microsoftTenant' : 'ourTenant';
    if (detail === 705 || detail === 708) return microsoft ? (detail === 708 ? 'microsoftList' : 'microsoftTenant') : 'policy';
    if (AUTHENTICATION_CODES.has(detail)) return 'authentication';
    if (NAMED_LIST.test(text)) return 'otherBlocklist';
    if (cls === 4) return 'throttled';
    if (detail === 54 || detail === 57 || detail === 64 || RELAY.test(text)) return 'relayDenied';
    if (SPAM.test(text)) return 'spam';
    return 'policy';
  }
  if (cls === 4) return subject === 2 && detail === 2 ? 'mailboxFull' : 'temporary';
  if (subject === 1 && [0, 1, 3, 6, 10].includes(detail)) return 'unknownUser';
  if (subject === 2 && (detail === 1 || detail === 0) && !/full|quota|size/i.test(text)) return 'unknownUser';
  if (subject === 4 && detail === 1 && /recipient address rejected/i.test(text)) return 'unknownUser'; // Exchange Online's directory-based edge blocking
  if ((subject === 1 && detail === 2) || (subject === 4 && (detail === 4 || detail === 310))) return 'badDomain';
  if (subject === 2 && (detail === 2 || /full|quota/i.test(text))) return 'mailboxFull';
  if ((subject === 3 && detail === 4) || (subject === 2 && detail === 3)) return 'tooLarge';
  return 'generic';
}

/** How strongly a finding should decide: ours first, then a reply's text over a bare `Status:`, specific over X.0.0. */
function weight(f: StatusFinding, kind: NdrKind): number {
  return (OUR_KINDS.has(kind) ? 1000 : kind === 'microsoftList' || kind === 'microsoftTenant' ? 500 : 0) + SOURCE_RANK[f.source] * 10 + (f.detail !== 0 ? 5 : 0) + (f.cls === 5 ? 1 : 0);
}

/** A CIDR range in brackets (`[198.51.100.0/24]`, as our Postfix table writes a listed range), canonical. */
function rangeIn(text: string): string | null {
  const m = /\[([0-9A-Fa-f:.]{2,45}\/\d{1,3})\]/.exec(text);
  if (!m) return null;
  try {
    return parseNetwork(m[1]!).text;
  } catch {
    return null;
  }
}

/** What the reading means for the sender: the deciding code, its kind, and the IP to act on. */
export function adviseNdr(reading: NdrReading): NdrAdvice & { others: Array<{ finding: StatusFinding; kind: NdrKind }> } {
  const remoteMicrosoft = Boolean(reading.remoteHost?.name && MICROSOFT_HOST.test(reading.remoteHost.name));
  const judged = reading.statuses.map((finding) => {
    const microsoft = MICROSOFT.test(finding.text) || remoteMicrosoft;
    return { finding, kind: kindOf(finding, microsoft), microsoft };
  });
  if (!judged.length) {
    const kind: NdrKind = reading.replyOnly ? (reading.replyOnly.startsWith('4') ? 'temporary' : 'generic') : 'none';
    return { kind, primary: null, ip: null, range: null, microsoft: false, ours: false, others: [] };
  }
  let best = judged[0]!;
  for (const j of judged) if (weight(j.finding, j.kind) > weight(best.finding, best.kind)) best = j;
  const ours = OUR_KINDS.has(best.kind);
  const ip = best.finding.addresses.find((a) => specialPurpose(parseAddress(a)) === null) ?? null;
  return {
    kind: best.kind,
    primary: best.finding,
    ip,
    range: rangeIn(best.finding.text),
    microsoft: best.microsoft,
    ours,
    others: judged.filter((j) => j !== best).map(({ finding, kind }) => ({ finding, kind })),
  };
}
