/**
 * What the rbldnsd and Postfix exports share: the input they read (one routing snapshot), which entries are
 * live, a cheap shape check of each CIDR (a bad key must never become a bad line), ASCII text for DNS/SMTP, and
 * the chunking that keeps a million entries from ever being one string.
 */
import type { BlockEntry, Exclusion } from '../../domain/listing.js';

/** The part of a routing snapshot the exports read (RoutingStore.snapshot() gives more; tests and benches give this). */
export interface ExportSnapshot {
  version: number;
  generatedAt: string;
  blocklist: readonly BlockEntry[];
  exclusions: readonly Exclusion[];
}

/** What each category answers on the DNSBL (policy.categories). */
export type ExportCategories = Readonly<Record<string, { dnsblAnswer: string; reason: string }>>;

/** Filled while a generator runs: what went out and what was left out. */
export interface ExportStats {
  listings: number;
  exclusions: number;
  /** Entries past their expiry at `now`. */
  expired: number;
  /** Entries whose CIDR text is not canonical-looking (never written, so a bad key cannot break the file). */
  malformed: number;
}

export const newStats = (): ExportStats => ({ listings: 0, exclusions: 0, expired: 0, malformed: 0 });

/** Chunks of about this many characters are yielded (all exported text is ASCII, so also bytes). */
export const CHUNK_CHARS = 64 * 1024;

/** A clock reading compared cheaply against the ISO expiry strings of up to a million entries. */
export interface Cutoff {
  iso: string;
  ms: number;
}

export const cutoffOf = (now: Date): Cutoff => ({ iso: now.toISOString(), ms: now.getTime() });

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * True while an entry is in effect: no expiry, or an expiry after the cut-off. Same rule as domain/listing
 * `decide()` (an unreadable expiry counts as expired). Canonical `toISOString()` text compares as a string.
 */
export function isLive(expiresAt: string | null | undefined, cut: Cutoff): boolean {
  if (expiresAt === null || expiresAt === undefined) return true;
  if (expiresAt.length === 24 && ISO_UTC.test(expiresAt)) return expiresAt > cut.iso;
  return Date.parse(expiresAt) > cut.ms;
}

/** Number of entries of the snapshot that are no longer in effect at the cut-off (part of the export's ETag). */
export function expiredCount(snapshot: ExportSnapshot, cut: Cutoff): number {
  let n = 0;
  for (const e of snapshot.blocklist) if (!isLive(e.expiresAt, cut)) n++;
  for (const x of snapshot.exclusions) if (!isLive(x.expiresAt, cut)) n++;
  return n;
}

/** Reads an optional `/len` from `i` (decimal, no leading zero, at most `max`); the end index, or -1. */
function prefixEnd(s: string, i: number, max: number): number {
  if (i === s.length) return i;
  if (s.charCodeAt(i) !== 47 /* / */ || i + 1 === s.length) return -1;
  let n = 0;
  let digits = 0;
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j) - 48;
    if (c < 0 || c > 9 || (digits === 1 && n === 0)) return -1;
    n = n * 10 + c;
    if (++digits > 3 || n > max) return -1;
  }
  return s.length;
}

function looksV4(s: string): boolean {
  let i = 0;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (s.charCodeAt(i) !== 46 /* . */) return false;
      i++;
    }
    let n = 0;
    const start = i;
    while (i < s.length) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      if (i > start && n === 0) return false; // leading zero
      n = n * 10 + c;
      if (n > 255) return false;
      i++;
    }
    if (i === start) return false;
  }
  return prefixEnd(s, i, 32) === s.length;
}

function looksV6(s: string): boolean {
  let groups = 0;
  let compressed = false;
  let digits = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 97 && c <= 102)) {
      if (++digits > 4) return false;
    } else if (c === 58 /* : */) {
      if (digits > 0) groups++;
      else if (i === 0) {
        if (s.charCodeAt(1) !== 58) return false; // ":x" is not an address
      } else if (s.charCodeAt(i - 1) === 58) {
        if (compressed) return false; // a second "::"
        compressed = true;
      } else return false;
      digits = 0;
    } else break;
  }
  if (digits > 0) groups++;
  else if (i === 0 || s.charCodeAt(i - 1) !== 58 || (i >= 2 && s.charCodeAt(i - 2) !== 58)) return false; // ends in a lone ":"
  if (compressed ? groups > 7 : groups !== 8) return false;
  return prefixEnd(s, i, 128) === s.length;
}

/**
 * 4 or 6 for a CIDR text shaped like the canonical form the stores write (dotted quad without leading zeros, or
 * lower-case hex with colons; optional /len), else 0. A shape check in one pass over the characters: it keeps
 * whitespace, comments and line breaks out of the files at a few dozen nanoseconds an entry, where a full parse
 * would cost microseconds.
 */
export function familyOf(cidr: unknown): 0 | 4 | 6 {
  if (typeof cidr !== 'string' || cidr.length < 2 || cidr.length > 43) return 0;
  if (cidr.includes(':')) return looksV6(cidr) ? 6 : 0;
  return looksV4(cidr) ? 4 : 0;
}

/** The prefix length written in a CIDR text (a bare address is a host: /32 or /128). */
export function prefixOf(cidr: string, family: 4 | 6): number {
  const slash = cidr.indexOf('/');
  return slash === -1 ? (family === 4 ? 32 : 128) : Number(cidr.slice(slash + 1));
}

const TYPOGRAPHIC: Record<string, string> = {
  '\u2010': '-', '\u2011': '-', '\u2012': '-', '\u2013': '-', '\u2014': '-', '\u2015': '-', '\u2212': '-',
  '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'", '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u201f': '"',
  '\u2026': '...', '\u00a0': ' ', '\u00ab': '"', '\u00bb': '"',
};

/**
 * Printable ASCII on one line: a DNSBL TXT record becomes an SMTP reply text, and SMTP replies are ASCII.
 * Typographic dashes and quotes become their ASCII look-alikes, accents are dropped, anything else is '?';
 * control characters and line breaks become spaces, runs of spaces one.
 */
export function asciiLine(text: string): string {
  let out = '';
  for (const ch of text.normalize('NFKD')) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x20 && code < 0x7f) out += ch;
    else if (code < 0x20 || code === 0x7f || (code >= 0x80 && code < 0xa0) || code === 0x2028 || code === 0x2029) out += ' ';
    else if (/\p{M}/u.test(ch)) continue;
    else out += TYPOGRAPHIC[ch] ?? '?';
  }
  return out.replace(/\s+/g, ' ').trim();
}

/** Groups short strings into chunks of about CHUNK_CHARS characters. */
export class Chunker {
  private buf = '';

  constructor(private readonly size = CHUNK_CHARS) {}

  /** Adds text; returns a chunk to yield once enough has gathered, else null. */
  push(text: string): string | null {
    this.buf += text;
    if (this.buf.length < this.size) return null;
    const chunk = this.buf;
    this.buf = '';
    return chunk;
  }

  /** What is left (possibly empty). */
  flush(): string {
    const chunk = this.buf;
    this.buf = '';
    return chunk;
  }
}
