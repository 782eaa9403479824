import type { ChainableCommander, Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

/** One entry of the append-only audit log: who or what did what, to which target, with before and after. */
export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  before?: unknown;
  after?: unknown;
}

const MAX_ENTRIES = 1_000_000;

/** The audit log, a Redis Stream: appended to in the same transaction as the change it records. */
export class AuditStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  appendIn(tx: ChainableCommander, entry: AuditEntry): void {
    tx.xadd(this.keys.audit, 'MAXLEN', '~', MAX_ENTRIES, '*', 'entry', JSON.stringify(entry));
  }

  /** Newest first. */
  async recent(count = 100): Promise<Array<AuditEntry & { id: string }>> {
    const rows = (await this.redis.xrevrange(this.keys.audit, '+', '-', 'COUNT', count)) as Array<[string, string[]]>;
    return rows.map(([id, fields]) => ({ id, ...(JSON.parse(fields[1] ?? '{}') as AuditEntry) }));
  }
}
