/**
 * The blocked-sender list as a Postfix `cidr:` table (cidr_table(5)) for check_client_access: exclusions as
 * `cidr DUNNO` first, then `cidr REJECT 5.7.606 Access denied, banned sending IP [<listed cidr>]`.
 *
 * A cidr table answers with its FIRST matching line, while the list means "longest prefix wins, an exclusion
 * wins at equal length" (domain/listing `decide()`). Exclusions-first gives that answer as long as no listing
 * sits strictly inside an exclusion; listings go most specific first so the bracket names the most specific
 * listing, as `decide()` does. When some listing does sit inside an exclusion (a /32 listed again inside an
 * excluded /24 of a listed /16), "exclusions first" would let that /32 through, so the whole table is written
 * most specific first instead (exclusion before listing at equal length), which is first-match-equals-longest-
 * prefix by construction; the header says which order was used.
 */
import { asciiLine, Chunker, cutoffOf, familyOf, isLive, newStats, prefixOf, type ExportSnapshot, type ExportStats } from './common.js';

export interface PostfixOptions {
  /** Entries whose expiry is at or before this are left out (default: now). */
  now?: Date;
  /** Filled in while generating. */
  stats?: ExportStats;
}

interface Row {
  cidr: string;
  family: 4 | 6;
  prefix: number;
  exclusion: boolean;
}

function v4Value(addr: string): number {
  let v = 0;
  for (const octet of addr.split('.')) v = v * 256 + Number(octet);
  return v;
}

/** Eight 16-bit groups of an IPv6 address in the checked shape (familyOf() === 6). */
function v6Groups(addr: string): number[] {
  const [left = '', right] = addr.split('::');
  const l = left ? left.split(':').map((g) => parseInt(g, 16)) : [];
  if (right === undefined) return l;
  const r = right ? right.split(':').map((g) => parseInt(g, 16)) : [];
  return [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
}

/** A key naming the network of `prefix` bits that contains the row's base address. */
function networkKey(row: Row, prefix: number): string {
  const slash = row.cidr.indexOf('/');
  const addr = slash === -1 ? row.cidr : row.cidr.slice(0, slash);
  if (row.family === 4) {
    const masked = prefix === 0 ? 0 : Math.floor(v4Value(addr) / 2 ** (32 - prefix)) * 2 ** (32 - prefix);
    return `4/${masked}/${prefix}`;
  }
  const groups = v6Groups(addr).map((g, i) => {
    const bits = Math.min(16, Math.max(0, prefix - i * 16));
    return bits === 16 ? g : bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `6/${groups.join(':')}/${prefix}`;
}

/** True when some listing lies strictly inside some exclusion (then "exclusions first" would be wrong). */
function listingInsideExclusion(exclusions: Row[], listings: Row[]): boolean {
  if (exclusions.length === 0) return false;
  const keys = new Set<string>();
  const lengths = { 4: new Set<number>(), 6: new Set<number>() };
  for (const x of exclusions) {
    keys.add(networkKey(x, x.prefix));
    lengths[x.family].add(x.prefix);
  }
  const sorted = { 4: [...lengths[4]].sort((a, b) => a - b), 6: [...lengths[6]].sort((a, b) => a - b) };
  for (const l of listings) {
    for (const len of sorted[l.family]) {
      if (len >= l.prefix) break;
      if (keys.has(networkKey(l, len))) return true;
    }
  }
  return false;
}

const mostSpecificFirst = (a: Row, b: Row) => b.prefix - a.prefix || (a.exclusion === b.exclusion ? 0 : a.exclusion ? -1 : 1);

const lineOf = (row: Row) => (row.exclusion ? `${row.cidr} DUNNO\n` : `${row.cidr} REJECT 5.7.606 Access denied, banned sending IP [${row.cidr}]\n`);

/** The Postfix cidr table for one snapshot, as chunks of about 64 KB. */
export function* postfixChunks(snapshot: ExportSnapshot, opts: PostfixOptions = {}): Generator<string, void, undefined> {
  const stats = opts.stats ?? newStats();
  const cut = cutoffOf(opts.now ?? new Date());
  const out = new Chunker();

  const collect = (entries: ReadonlyArray<{ cidr: string; expiresAt: string | null }>, exclusion: boolean): Row[] => {
    const rows: Row[] = [];
    for (const e of entries) {
      if (!isLive(e.expiresAt, cut)) {
        stats.expired++;
        continue;
      }
      const family = familyOf(e.cidr);
      if (family === 0) {
        stats.malformed++;
        continue;
      }
      rows.push({ cidr: e.cidr, family, prefix: prefixOf(e.cidr, family), exclusion });
    }
    return rows;
  };
  const exclusions = collect(snapshot.exclusions, true);
  const listings = collect(snapshot.blocklist, false);
  const byFamily = (a: Row, b: Row) => a.family - b.family;
  // Array.prototype.sort is stable: within a prefix length, snapshot (key) order is kept.
  exclusions.sort((a, b) => byFamily(a, b) || mostSpecificFirst(a, b));
  listings.sort((a, b) => byFamily(a, b) || mostSpecificFirst(a, b));
  const nested = listingInsideExclusion(exclusions, listings);
  const rows = nested ? [...exclusions, ...listings].sort((a, b) => byFamily(a, b) || mostSpecificFirst(a, b)) : [...exclusions, ...listings];
  stats.exclusions = exclusions.length;
  stats.listings = listings.length;

  let chunk = out.push(
    [
      '# Postmaster Portal: blocked-sender list as a Postfix cidr table (cidr_table(5)); first match wins.',
      `# routing version ${snapshot.version}, snapshot of ${asciiLine(String(snapshot.generatedAt))}; entries past their expiry are left out.`,
      '# main.cf: smtpd_client_restrictions = check_client_access cidr:/etc/postfix/<this file>',
      '#          (access_map_reject_code = 550 makes the reply "550 5.7.606 ...")',
      nested
        ? '# order: most specific first (some listing lies inside an exclusion), an exclusion before a listing of the same network.'
        : '# order: exclusions (DUNNO) first, then listings (REJECT), most specific first.',
      '',
    ].join('\n'),
  );
  if (chunk) yield chunk;
  for (const row of rows) if ((chunk = out.push(lineOf(row)))) yield chunk;
  out.push(`# end of data: ${stats.listings} listings, ${stats.exclusions} exclusions, ${stats.expired} expired left out${stats.malformed ? `, ${stats.malformed} malformed skipped` : ''}.\n`);
  yield out.flush();
}
