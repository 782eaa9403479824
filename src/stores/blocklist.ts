import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.js';
import { parseNetwork, type Address, type Network } from '../domain/ip.js';
import { decide, SELF_SERVICE, type BlockEntry, type Exclusion, type RoutingChange, type Verdict } from '../domain/listing.js';
import { DATASET_TABLES, isoText } from './dataset-tables.js';
import type { RoutingStore } from './routing.js';

export interface HistoryEvent {
  at: string;
  action: 'listed' | 'removed' | 'excluded' | 'self-delisted';
  by: string;
  detail: string;
  /** The public request behind the change (a self-delist), when there is one. */
  requestId?: string;
}

const { blocklist: LISTINGS, exclusions: EXCLUSIONS } = DATASET_TABLES;

/**
 * The blocked-sender list (blocklist_entries, blocklist_exclusions), its history (listing_history) and the self-delist
 * count (self_delists). Look-ups by containment use the GiST indexes; every change goes through the routing
 * publisher, with its history rows in the same transaction.
 */
export class BlocklistStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly routing: RoutingStore,
  ) {}

  /** The verdict for one address: every listing and exclusion containing it, in one statement. */
  async lookup(addr: Address, now = new Date(), db: Kysely<Database> = this.db): Promise<Verdict> {
    const { rows } = await sql<Record<string, unknown> & { x: boolean; len: number }>`
      SELECT false AS x, masklen(cidr) AS len, ${LISTINGS.select}, null AS created_at FROM blocklist_entries WHERE cidr >>= ${addr.text}::inet
      UNION ALL
      SELECT true, masklen(cidr), abbrev(cidr::inet), null, reason, source, null, null, ${isoText('expires_at')}, ${isoText('created_at')} FROM blocklist_exclusions WHERE cidr >>= ${addr.text}::inet
      ORDER BY len DESC`.execute(db);
    const listings = rows.filter((r) => !r.x).map(LISTINGS.fromRow);
    const exclusions = rows.filter((r) => r.x).map(EXCLUSIONS.fromRow);
    return decide(listings, exclusions, now);
  }

  /**
   * One page of the current listings for the staff table: filtered by an address or range (listings that contain it
   * or lie inside it: the GiST `&&`), category, source and who listed it (the `source` column), sorted newest first,
   * soonest to expire, or by network, paged by a cursor (keyset: no OFFSET, so page 1,000 costs what page 1 does).
   */
  async page(q: ListingQuery): Promise<{ entries: BlockEntry[]; next: string | null }> {
    const where = [sql`true`];
    if (q.overlapping) where.push(sql`cidr && ${q.overlapping.text}::cidr`);
    if (q.category) where.push(sql`category = ${q.category}`);
    if (q.source) where.push(sql`source = ${q.source}`);
    if (q.since) where.push(sql`listed_at >= ${q.since}::date::timestamp AT TIME ZONE 'UTC'`);
    if (q.until) where.push(sql`listed_at < (${q.until}::date + 1)::timestamp AT TIME ZONE 'UTC'`);
    const decoded = q.after ? decodeCursor(q.after) : null;
    const cursor = decoded && decoded.length === (q.sort === 'cidr' ? 1 : 2) ? decoded : null;
    let order;
    if (q.sort === 'cidr') {
      if (cursor) where.push(sql`cidr > ${cursor[0]}::cidr`);
      order = sql`blocklist_entries.cidr`; // the column, not the select list's text alias
    } else if (q.sort === 'expiring') {
      where.push(sql`expires_at IS NOT NULL`);
      if (cursor) where.push(sql`(expires_at, cidr) > (${cursor[0]}::timestamptz, ${cursor[1]}::cidr)`);
      order = sql`blocklist_entries.expires_at, blocklist_entries.cidr`;
    } else {
      if (cursor) where.push(sql`(listed_at, cidr) < (${cursor[0]}::timestamptz, ${cursor[1]}::cidr)`);
      order = sql`blocklist_entries.listed_at DESC, blocklist_entries.cidr DESC`;
    }
    const { rows } = await sql<Record<string, unknown>>`SELECT ${LISTINGS.select}, cidr::text AS cursor_cidr FROM blocklist_entries WHERE ${sql.join(where, sql` AND `)} ORDER BY ${order} LIMIT ${q.limit + 1}`.execute(this.db);
    const entries = rows.slice(0, q.limit).map(LISTINGS.fromRow);
    const last = rows.length > q.limit ? rows[q.limit - 1]! : null;
    const next = last ? encodeCursor(q.sort === 'cidr' ? [String(last.cursor_cidr)] : [isoFromCursor(q.sort === 'expiring' ? last.expires_at : last.listed_at), String(last.cursor_cidr)]) : null;
    return { entries, next };
  }

  async getListing(cidr: string, db: Kysely<Database> = this.db): Promise<BlockEntry | null> {
    return this.routing.entry('blocklist', cidr, db);
  }

  async getExclusion(cidr: string, db: Kysely<Database> = this.db): Promise<Exclusion | null> {
    return this.routing.entry('exclusions', cidr, db);
  }

  /**
   * Publishes changes and appends the history events in one transaction (`trx`, which the caller opened and may write
   * more in); returns the new version.
   */
  async applyIn(trx: Kysely<Database>, changes: RoutingChange[], history: Array<{ cidr: string; event: HistoryEvent }>, now = new Date()): Promise<number> {
    const version = await this.routing.publishIn(trx, changes, now);
    for (const { cidr, event } of history) await this.addHistoryIn(trx, cidr, event);
    return version;
  }

  /** applyIn() in a transaction of its own. */
  async apply(changes: RoutingChange[], history: Array<{ cidr: string; event: HistoryEvent }>, now = new Date()): Promise<number> {
    return this.db.transaction().execute((trx) => this.applyIn(trx, changes, history, now));
  }

  /**
   * One history event of a network. The request it names is linked when that request is a row of `requests` (the
   * id is in `actor`/`detail` too).
   */
  async addHistoryIn(trx: Kysely<Database>, cidr: string, event: HistoryEvent): Promise<void> {
    await trx
      .insertInto('listing_history')
      .values((eb) => ({
        cidr,
        at: event.at,
        action: event.action,
        actor: event.by,
        detail: event.detail,
        request_id: event.requestId ? eb.selectFrom('requests').select('requests.id').where('requests.id', '=', event.requestId) : null,
      }))
      .execute();
  }

  /** The self-service exclusions whose network lies inside `net` (or is `net`). */
  async selfServiceExclusionsWithin(net: Network, db: Kysely<Database> = this.db): Promise<Exclusion[]> {
    const { rows } = await sql<Record<string, unknown>>`SELECT ${EXCLUSIONS.select} FROM blocklist_exclusions WHERE cidr <<= ${net.text}::cidr AND source = ${SELF_SERVICE} ORDER BY blocklist_exclusions.cidr`.execute(db);
    return rows.map(EXCLUSIONS.fromRow);
  }

  /** Every listing containing `net` at its length or wider (live or not), most specific first. */
  async listingsContaining(net: Network, db: Kysely<Database> = this.db): Promise<BlockEntry[]> {
    const { rows } = await sql<Record<string, unknown>>`SELECT ${LISTINGS.select} FROM blocklist_entries WHERE cidr >>= ${net.text}::cidr ORDER BY masklen(cidr) DESC`.execute(db);
    return rows.map(LISTINGS.fromRow);
  }

  /** Everything that happened to one network (listing, removal, exclusions, self-delists), oldest first. */
  async history(cidr: string): Promise<HistoryEvent[]> {
    const rows = await this.db
      .selectFrom('listing_history')
      .select(['at', 'action', 'actor', 'detail', 'request_id'])
      .where('cidr', '=', cidr)
      .orderBy('id')
      .execute();
    return rows.map((r) => ({ at: r.at.toISOString(), action: r.action, by: r.actor, detail: r.detail, ...(r.request_id && { requestId: r.request_id }) }));
  }

  /**
   * Everything that happened to any network containing the address (its own listings and those of ranges around it),
   * newest first, up to `limit`: the address page's history, listed now or not.
   */
  async historyContaining(addr: Address, limit = 200): Promise<Array<HistoryEvent & { cidr: string }>> {
    const rows = await this.db
      .selectFrom('listing_history')
      .select([sql<string>`cidr::text`.as('cidr'), 'at', 'action', 'actor', 'detail', 'request_id'])
      .where(sql<boolean>`cidr >>= ${addr.text}::inet`)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ cidr: r.cidr, at: r.at.toISOString(), action: r.action, by: r.actor, detail: r.detail, ...(r.request_id && { requestId: r.request_id }) }));
  }

  /** Number of self-delists of an address since `since` (used for the budget and the relist doubling). */
  async selfDelistsSince(ip: string, since: Date, db: Kysely<Database> = this.db): Promise<number> {
    const row = await db.selectFrom('self_delists').select((eb) => eb.fn.countAll<string>().as('n')).where('ip', '=', ip).where('at', '>=', since).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async selfDelistsEver(ip: string, db: Kysely<Database> = this.db): Promise<number> {
    const row = await db.selectFrom('self_delists').select((eb) => eb.fn.countAll<string>().as('n')).where('ip', '=', ip).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Records a self-delist (keyed by request id, so a retried job counts once). */
  async recordSelfDelistIn(trx: Kysely<Database>, ip: string, requestId: string, at: Date): Promise<void> {
    await trx.insertInto('self_delists').values({ request_id: requestId, ip, at }).onConflict((oc) => oc.column('request_id').doNothing()).execute();
  }
}

/** What the staff listings table asks for (BlocklistStore.page). */
export interface ListingQuery {
  overlapping?: Network;
  category?: string;
  source?: string;
  /** Listed from this UTC day on (YYYY-MM-DD, a valid date). */
  since?: string;
  /** Listed up to and including this UTC day. */
  until?: string;
  sort: 'newest' | 'expiring' | 'cidr';
  after?: string;
  limit: number;
}

const isoFromCursor = (v: unknown) => String(v);
const encodeCursor = (parts: string[]) => Buffer.from(JSON.stringify(parts)).toString('base64url');

/** A cursor as the table wrote it; anything else (a hand-edited URL) starts from the first page. */
function decodeCursor(text: string): string[] | null {
  try {
    const parts = JSON.parse(Buffer.from(text.slice(0, 400), 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(parts) || parts.length < 1 || parts.length > 2 || !parts.every((p) => typeof p === 'string' && p.length < 100)) return null;
    if (parts.length === 2 && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(parts[0] as string)) return null;
    parseNetwork(String(parts.at(-1)));
    return parts as string[];
  } catch {
    return null;
  }
}
