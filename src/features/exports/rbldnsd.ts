/**
 * The blocked-sender list as an rbldnsd `combined` data file (rbldnsd(8)): one `$DATASET ip4trie @` and one
 * `$DATASET ip6trie @` section, each with a default answer, the RFC 5782 test entries, `!cidr` exclusions and
 * one `cidr :<A>:<TXT>` line per live listing. The TXT carries the category's public reason (policy.categories,
 * as the check API and /lookup answer; never the staff's text of the listing) and the lookup URL; rbldnsd puts the
 * queried address where the template has `$`. Tries answer the longest matching prefix, and at equal length an
 * exclusion wins: the same rule as domain/listing `decide()`.
 */
import { asciiLine, Chunker, cutoffOf, familyOf, isLive, newStats, type ExportCategories, type ExportSnapshot, type ExportStats } from './common.js';

export interface RbldnsdOptions {
  /** PUBLIC_URL (no trailing slash): TXT answers point to `<publicUrl>/lookup?ip=<address>`. */
  publicUrl: string;
  /** policy.categories: the A record and the public reason of each category. */
  categories: ExportCategories;
  /** Entries whose expiry is at or before this are left out (default: now). */
  now?: Date;
  /** Filled in while generating. */
  stats?: ExportStats;
  /** `$TTL` of answers, in seconds (default 300: a delisting reaches caches within five minutes of a reload). */
  ttl?: number;
  /** Negative-answer TTL in the `$SOA` (default 60 s: a new listing is seen within a minute of a reload). */
  negativeTtl?: number;
}

/** rbldnsd truncates TXT records to 255 bytes (rbldnsd(8), BUGS). */
const TXT_MAX = 255;
/** The longest text rbldnsd substitutes for `$`: a full-length IPv6 address. */
const ADDRESS_MAX = 39;
const DEFAULT_ANSWER = '127.0.0.2';
const ANSWER = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const DEFAULT_REASON = 'This address is on our blocked-senders list.';
const TEST_REASON = 'RFC 5782 test entry, always listed.';

/** rbldnsd replaces `$` in a TXT template by the queried address; a literal dollar is `$$`. */
const escapeTemplate = (text: string) => text.replaceAll('$', () => '$$');

/** Builds `<reason> - <url>$` TXT templates that fit in 255 bytes once rbldnsd substitutes the address. */
function txtTemplates(publicUrl: string): (reason: string) => string {
  const url = asciiLine(publicUrl).replace(/\s/g, '');
  const tail = ` - ${url}/lookup?ip=`;
  const room = TXT_MAX - tail.length - ADDRESS_MAX;
  return (reason) => {
    let text = asciiLine(reason);
    if (text.length > room) text = room > 3 ? `${text.slice(0, room - 3).trimEnd()}...` : '';
    return text ? `${escapeTemplate(text)}${escapeTemplate(tail)}$` : `${escapeTemplate(tail.slice(3))}$`;
  };
}

const SOA_DOMAIN = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/;

function hostOf(publicUrl: string): string {
  try {
    const host = new URL(publicUrl).hostname.toLowerCase();
    return SOA_DOMAIN.test(host) ? host : 'localhost';
  } catch {
    return 'localhost';
  }
}

/**
 * The rbldnsd file for one snapshot, as chunks of about 64 KB (never the whole file as one string).
 * Serve with: `rbldnsd -b <addr>/<port> <zone>:combined:<file>`.
 */
export function* rbldnsdChunks(snapshot: ExportSnapshot, opts: RbldnsdOptions): Generator<string, void, undefined> {
  const stats = opts.stats ?? newStats();
  const cut = cutoffOf(opts.now ?? new Date());
  const txt = txtTemplates(opts.publicUrl);
  const host = hostOf(opts.publicUrl);
  const ttl = Math.max(0, Math.floor(opts.ttl ?? 300));
  const negativeTtl = Math.max(0, Math.floor(opts.negativeTtl ?? 60));
  const serial = snapshot.version % 4294967296 || 1;
  const out = new Chunker();

  // One value text per category: a million entries share a handful of them. The listing's own `reason` is the
  // staff's internal text and never goes into the public zone.
  const values = new Map<string, string>();
  const valueOf = (category: string): string => {
    let value = values.get(category);
    if (value === undefined) {
      const cat = Object.hasOwn(opts.categories, category) ? opts.categories[category] : undefined;
      const answer = cat && ANSWER.test(cat.dnsblAnswer) ? cat.dnsblAnswer : DEFAULT_ANSWER;
      value = ` :${answer}:${txt(cat?.reason || DEFAULT_REASON)}\n`;
      values.set(category, value);
    }
    return value;
  };
  const defaultLine = `:${DEFAULT_ANSWER}:${txt(DEFAULT_REASON)}\n`;

  let chunk = out.push(
    [
      '# Postmaster Portal: blocked-sender list as an rbldnsd "combined" dataset.',
      `# routing version ${snapshot.version}, snapshot of ${asciiLine(String(snapshot.generatedAt))}; entries past their expiry are left out.`,
      '# Serve it with: rbldnsd -b <address>/<port> <zone>:combined:<this file>',
      '# The $SOA serial is the routing version. To give your own $SOA and $NS, list a file holding them first:',
      '#   <zone>:combined:<your soa+ns file>,<this file>   (rbldnsd uses the first $SOA and $NS it reads).',
      `$SOA 0 ${host} hostmaster.${host} ${serial} 1h 15m 1w ${negativeTtl}`,
      `$TTL ${ttl}`,
      '',
      '$DATASET ip4trie:blocklist-v4 @',
      defaultLine.trimEnd(),
      '# RFC 5782 test entries: 127.0.0.2 is listed, 127.0.0.1 never is.',
      `127.0.0.2 :${DEFAULT_ANSWER}:${txt(TEST_REASON)}`,
      '!127.0.0.1',
      '',
    ].join('\n'),
  );
  if (chunk) yield chunk;

  const v6Exclusions: number[] = [];
  const v6Listings: number[] = [];
  const isTestEntry = (cidr: string) => cidr === '127.0.0.1' || cidr === '127.0.0.2';

  const exclusions = snapshot.exclusions;
  for (let i = 0; i < exclusions.length; i++) {
    const x = exclusions[i]!;
    if (!isLive(x.expiresAt, cut)) {
      stats.expired++;
      continue;
    }
    const family = familyOf(x.cidr);
    if (family === 6) v6Exclusions.push(i);
    else if (family === 0) stats.malformed++;
    else if (!isTestEntry(x.cidr)) {
      stats.exclusions++;
      if ((chunk = out.push(`!${x.cidr}\n`))) yield chunk;
    }
  }
  const listings = snapshot.blocklist;
  for (let i = 0; i < listings.length; i++) {
    const e = listings[i]!;
    if (!isLive(e.expiresAt, cut)) {
      stats.expired++;
      continue;
    }
    const family = familyOf(e.cidr);
    if (family === 6) v6Listings.push(i);
    else if (family === 0) stats.malformed++;
    else if (!isTestEntry(e.cidr)) {
      stats.listings++;
      if ((chunk = out.push(e.cidr + valueOf(e.category)))) yield chunk;
    }
  }

  chunk = out.push(
    [
      '',
      '$DATASET ip6trie:blocklist-v6 @',
      defaultLine.trimEnd(),
      '# RFC 5782 test entries: ::FFFF:7F00:2 is listed, ::FFFF:7F00:1 never is (ip6trie wants hex, not ::ffff:127.0.0.2).',
      `::ffff:7f00:2 :${DEFAULT_ANSWER}:${txt(TEST_REASON)}`,
      '!::ffff:7f00:1',
      '',
    ].join('\n'),
  );
  if (chunk) yield chunk;
  for (const i of v6Exclusions) {
    stats.exclusions++;
    if ((chunk = out.push(`!${exclusions[i]!.cidr}\n`))) yield chunk;
  }
  for (const i of v6Listings) {
    const e = listings[i]!;
    stats.listings++;
    if ((chunk = out.push(e.cidr + valueOf(e.category)))) yield chunk;
  }

  // A complete download ends with this line; a cut-off one does not.
  out.push(`\n# end of data: ${stats.listings} listings, ${stats.exclusions} exclusions, ${stats.expired} expired left out${stats.malformed ? `, ${stats.malformed} malformed skipped` : ''}.\n`);
  yield out.flush();
}
