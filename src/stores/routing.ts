import type { Redis, ChainableCommander } from 'ioredis';
import { DATASETS, type DatasetValues, type RoutingChange } from '../domain/datasets.js';
import type { Keys } from '../redis/keys.js';

export type Snapshot = { version: number; generatedAt: string } & { [D in keyof DatasetValues]: Array<DatasetValues[D]> };

export interface FeedEntry {
  version: number;
  at: string;
  changes: RoutingChange[];
}

export type FeedPage = { gone: true; version: number } | { gone: false; version: number; entries: FeedEntry[]; hasMore: boolean };

/**
 * Applies a list of changes to the dataset hashes, bumps the version and appends one feed entry, all in one
 * script: a consumer reading the snapshot or the feed never sees half a change.
 */
const APPLY = `
-- KEYS[3..] are the dataset hashes, ARGV[4..] their names
local hashes = {}
for i = 3, #KEYS do hashes[ARGV[i + 1]] = KEYS[i] end
local changes = cjson.decode(ARGV[3])
for _, c in ipairs(changes) do
  local h = hashes[c.dataset]
  if not h then return redis.error_reply('unknown dataset ' .. tostring(c.dataset)) end
  if c.op == 'upsert' then redis.call('HSET', h, c.key, cjson.encode(c.value)) else redis.call('HDEL', h, c.key) end
end
local v = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], v .. '-0', 'version', v, 'at', ARGV[2], 'changes', ARGV[3])
return v
`;

/** The routing publisher: the only writer of the routing datasets, their version and the change feed. */
export class RoutingStore {
  private cached: { version: number; body: Snapshot } | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly feedMaxLength: number,
  ) {}

  /** Queues the atomic apply on a transaction, so callers can commit other state in the same MULTI. */
  applyIn(tx: ChainableCommander, changes: RoutingChange[], now = new Date()): ChainableCommander {
    const k = this.keys;
    return tx.eval(APPLY, 2 + DATASETS.length, k.routingVersion, k.routingFeed, ...DATASETS.map(k.dataset), this.feedMaxLength, now.toISOString(), JSON.stringify(changes), ...DATASETS);
  }

  /** Publishes changes on their own; returns the new version. */
  async publish(changes: RoutingChange[], alsoInTransaction?: (tx: ChainableCommander) => void): Promise<number> {
    const tx = this.redis.multi();
    this.applyIn(tx, changes);
    alsoInTransaction?.(tx);
    const results = await tx.exec();
    if (!results) throw new Error('routing transaction aborted');
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0];
    return Number(results[0]![1]);
  }

  async version(): Promise<number> {
    return Number((await this.redis.get(this.keys.routingVersion)) ?? 0);
  }

  /** A consistent snapshot of every dataset at one version (cached in-process per version). */
  async snapshot(): Promise<Snapshot> {
    const current = await this.version();
    if (this.cached && this.cached.version === current) return this.cached.body;
    const k = this.keys;
    const tx = this.redis.multi().get(k.routingVersion);
    for (const d of DATASETS) tx.hgetall(k.dataset(d));
    const results = await tx.exec();
    if (!results) throw new Error('snapshot transaction aborted');
    const [version, ...hashes] = results.map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [string | null, ...Array<Record<string, string>>];
    // Entries in key order, so equal versions give byte-identical snapshots.
    const entries = (h: Record<string, string> | undefined) => Object.keys(h ?? {}).sort().map((key) => JSON.parse(h![key]!) as unknown);
    const body = { version: Number(version ?? 0), generatedAt: new Date().toISOString() } as Snapshot;
    DATASETS.forEach((d, i) => ((body as Record<string, unknown>)[d] = entries(hashes[i])));
    this.cached = { version: body.version, body };
    return body;
  }

  /** The changes after `after`, oldest first; `gone` when versions after it were trimmed from the feed. */
  async feed(after: number, limit = 1000): Promise<FeedPage> {
    const k = this.keys;
    const results = await this.redis.multi().get(k.routingVersion).xrange(k.routingFeed, '-', '+', 'COUNT', 1).xrange(k.routingFeed, `(${after}-0`, '+', 'COUNT', limit + 1).exec();
    if (!results) throw new Error('feed transaction aborted');
    const version = Number((results[0]![1] as string | null) ?? 0);
    const first = results[1]![1] as Array<[string, string[]]>;
    const rows = results[2]![1] as Array<[string, string[]]>;
    if (after >= version) return { gone: false, version, entries: [], hasMore: false };
    const oldest = first[0] ? Number(first[0][0].split('-')[0]) : version + 1;
    if (after + 1 < oldest) return { gone: true, version };
    const entries = rows.slice(0, limit).map(([, fields]) => toFeedEntry(fields));
    return { gone: false, version, entries, hasMore: rows.length > limit };
  }
}

function toFeedEntry(fields: string[]): FeedEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  return { version: Number(map.get('version')), at: map.get('at') ?? '', changes: JSON.parse(map.get('changes') ?? '[]') as RoutingChange[] };
}
