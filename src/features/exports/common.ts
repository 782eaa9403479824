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

const V4_CIDR = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\/(?:3[0-2]|[12]?\d))?$/;
const V6_PREFIX = /^(?:12[0-8]|1[01]\d|[1-9]?\d)$/;
const V6_HALF = /^(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?$/;

function looksV6(cidr: string): boolean {
  const slash = cidr.indexOf('/');
  const addr = slash === -1 ? cidr : cidr.slice(0, slash);
  if (slash !== -1 && !V6_PREFIX.test(cidr.slice(slash + 1))) return false;
  const halves = addr.split('::');
  if (halves.length > 2 || !halves.every((h) => V6_HALF.test(h))) return false;
  const groups = halves.reduce((n, h) => n + (h === '' ? 0 : h.split(':').length), 0);
  return halves.length === 2 ? groups <= 7 : groups === 8;
}

/**
 * 4 or 6 for a CIDR text shaped like the canonical form the stores write (dotted quad, or lower-case hex with
 * colons; optional /len), else 0. A shape check only: it keeps whitespace, comments and line breaks out of the
 * files at a fraction of a microsecond an entry, where a full parse would cost several.
 */
export function familyOf(cidr: unknown): 0 | 4 | 6 {
  if (typeof cidr !== 'string') return 0;
  if (cidr.includes(':')) return looksV6(cidr) ? 6 : 0;
  return V4_CIDR.test(cidr) ? 4 : 0;
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
