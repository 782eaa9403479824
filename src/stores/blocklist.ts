import type { ChainableCommander, Redis } from 'ioredis';
import { candidateKeys, parseNetwork, type Address, type Network } from '../domain/ip.js';
import { decide, isSelfService, type BlockEntry, type Exclusion, type RoutingChange, type Verdict } from '../domain/listing.js';
import type { Keys } from '../redis/keys.js';
import type { RoutingStore } from './routing.js';

export interface HistoryEvent {
  at: string;
  action: 'listed' | 'removed' | 'excluded' | 'self-delisted';
  by: string;
  detail: string;
}

/** The blocked-sender list: lookups by longest prefix, and changes that always go through the routing publisher. */
export class BlocklistStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly routing: RoutingStore,
  ) {}

  /** The verdict for one address: one round trip for all its candidate prefixes. */
  async lookup(addr: Address, now = new Date()): Promise<Verdict> {
    const candidates = candidateKeys(addr);
    const results = await this.redis.multi().hmget(this.keys.blocklist, ...candidates).hmget(this.keys.exclusions, ...candidates).exec();
    if (!results) throw new Error('lookup transaction aborted');
    const parse = <T>(values: unknown) => (values as Array<string | null>).filter((v): v is string => v !== null).map((v) => JSON.parse(v) as T);
    return decide(parse<BlockEntry>(results[0]![1]), parse<Exclusion>(results[1]![1]), now);
  }

  async getListing(cidr: string): Promise<BlockEntry | null> {
    const raw = await this.redis.hget(this.keys.blocklist, cidr);
    return raw ? (JSON.parse(raw) as BlockEntry) : null;
  }

  async getExclusion(cidr: string): Promise<Exclusion | null> {
    const raw = await this.redis.hget(this.keys.exclusions, cidr);
    return raw ? (JSON.parse(raw) as Exclusion) : null;
  }

  /**
   * Publishes changes and appends the history events in the same transaction; returns the new version. The index of
   * self-service exclusions follows the exclusions dataset in that transaction.
   */
  async apply(changes: RoutingChange[], history: Array<{ cidr: string; event: HistoryEvent }>, also?: (tx: ChainableCommander) => void): Promise<number> {
    return this.routing.publish(changes, (tx) => {
      for (const { cidr, event } of history) tx.rpush(this.keys.listingHistory(cidr), JSON.stringify(event));
      for (const c of changes) {
        if (c.dataset !== 'exclusions') continue;
        if (c.op === 'upsert' && isSelfService(c.value)) tx.zadd(this.keys.selfServiceExclusions, 0, indexMember(parseNetwork(c.key)));
        else tx.zrem(this.keys.selfServiceExclusions, indexMember(parseNetwork(c.key)));
      }
      also?.(tx);
    });
  }

  /** The self-service exclusions whose network lies inside `net` (or is `net`). */
  async selfServiceExclusionsWithin(net: Network): Promise<Exclusion[]> {
    const digits = net.version === 4 ? 8 : 32;
    const last = net.base | ((1n << BigInt(digits * 4 - net.prefix)) - 1n);
    const members = await this.redis.zrangebylex(this.keys.selfServiceExclusions, `[${net.version}:${hex(net.base, digits)}`, `(${net.version}:${hex(last, digits)}~`);
    if (!members.length) return [];
    const cidrs = members.map((m) => m.slice(m.indexOf(' ') + 1));
    const values = await this.redis.hmget(this.keys.exclusions, ...cidrs);
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as Exclusion).filter(isSelfService);
  }

  /** Every listing containing `net` at its length or wider (live or not), most specific first. */
  async listingsContaining(net: Network): Promise<BlockEntry[]> {
    const keys = candidateKeys({ version: net.version, value: net.base, text: '' }).slice((net.version === 4 ? 32 : 128) - net.prefix);
    return (await this.redis.hmget(this.keys.blocklist, ...keys)).filter((v): v is string => v !== null).map((v) => JSON.parse(v) as BlockEntry);
  }

  async history(cidr: string): Promise<HistoryEvent[]> {
    return (await this.redis.lrange(this.keys.listingHistory(cidr), 0, -1)).map((v) => JSON.parse(v) as HistoryEvent);
  }

  /** Number of self-delists of an address since `since` (used for the budget and the relist doubling). */
  async selfDelistsSince(ip: string, since: Date): Promise<number> {
    return this.redis.zcount(this.keys.selfDelists(ip), since.getTime(), '+inf');
  }

  async selfDelistsEver(ip: string): Promise<number> {
    return this.redis.zcard(this.keys.selfDelists(ip));
  }

  /** Queues the record of a self-delist on a transaction (keyed by request id, so a retried job counts once). */
  recordSelfDelistIn(tx: ChainableCommander, ip: string, requestId: string, at: Date): void {
    tx.zadd(this.keys.selfDelists(ip), at.getTime(), requestId);
  }
}

const hex = (value: bigint, digits: number) => value.toString(16).padStart(digits, '0');

/** An index member: version and fixed-width hex base (so members sort by address), then the canonical CIDR. */
const indexMember = (net: Network) => `${net.version}:${hex(net.base, net.version === 4 ? 8 : 32)} ${net.text}`;
