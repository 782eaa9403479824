import type { ChainableCommander, Redis } from 'ioredis';
import { candidateKeys, type Address } from '../domain/ip.js';
import { decide, type BlockEntry, type Exclusion, type RoutingChange, type Verdict } from '../domain/listing.js';
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

  /** Publishes changes and appends the history events in the same transaction; returns the new version. */
  async apply(changes: RoutingChange[], history: Array<{ cidr: string; event: HistoryEvent }>, also?: (tx: ChainableCommander) => void): Promise<number> {
    return this.routing.publish(changes, (tx) => {
      for (const { cidr, event } of history) tx.rpush(this.keys.listingHistory(cidr), JSON.stringify(event));
      also?.(tx);
    });
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
