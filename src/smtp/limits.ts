import ipaddr from 'ipaddr.js';
import type { Redis } from 'ioredis';

/**
 * The key a client is counted under: an IPv4 address as it is, an IPv6 address by its /64 (one end site's LAN, so
 * a host cannot take fresh slots by walking its own subnet). IPv4-mapped IPv6 counts as the IPv4 address.
 */
export function clientKey(remoteAddress: string): string {
  try {
    const addr = ipaddr.process(remoteAddress);
    if (addr.kind() === 'ipv4') return addr.toString();
    const parts = (addr as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
    return `${parts.join(':')}::/64`;
  } catch {
    return remoteAddress;
  }
}

/** True for 127.0.0.0/8 and ::1 (and their IPv4-mapped form). */
export function isLoopback(remoteAddress: string): boolean {
  try {
    return ipaddr.process(remoteAddress).range() === 'loopback';
  } catch {
    return false;
  }
}

/** Open connections per client key, in this process. */
export class ConnectionCounter {
  private readonly open = new Map<string, number>();

  /** Takes a slot for the key unless it already holds `max`; true when taken. */
  take(key: string, max: number): boolean {
    const n = this.open.get(key) ?? 0;
    if (n >= max) return false;
    this.open.set(key, n + 1);
    return true;
  }

  release(key: string): void {
    const n = (this.open.get(key) ?? 0) - 1;
    if (n > 0) this.open.set(key, n);
    else this.open.delete(key);
  }

  count(key: string): number {
    return this.open.get(key) ?? 0;
  }
}

/**
 * Failures per client key in a fixed window, in this process (the intake is one process; a restart forgets, which
 * only gives an attacker a few more guesses at a scrypt hash). Bounded: at most `maxKeys` keys are remembered, the
 * oldest window dropped first.
 */
export class FailureWindow {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  constructor(
    private readonly max: number,
    private readonly windowMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** True while the key is at or over the cap. */
  blocked(key: string, now = Date.now()): boolean {
    const w = this.windows.get(key);
    if (!w) return false;
    if (w.resetAt <= now) {
      this.windows.delete(key);
      return false;
    }
    return w.count >= this.max;
  }

  record(key: string, now = Date.now()): void {
    const w = this.windows.get(key);
    if (w && w.resetAt > now) {
      w.count++;
      return;
    }
    this.windows.delete(key);
    if (this.windows.size >= this.maxKeys) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(key, { count: 1, resetAt: now + this.windowMs });
  }
}

export interface HourUsage {
  messages: number;
  bytes: number;
}

/**
 * What one client (a clientKey) sent to the intake this hour: messages and bytes, each a counter in Redis that
 * expires an hour after its first count (a fixed window), so every intake process on the same Redis shares them.
 */
export class ClientHourQuota {
  constructor(
    private readonly redis: Redis,
    private readonly keyOf: (counter: 'messages' | 'bytes', client: string) => string,
  ) {}

  async usage(client: string): Promise<HourUsage> {
    const [messages, bytes] = await this.redis.mget(this.keyOf('messages', client), this.keyOf('bytes', client));
    return { messages: Number(messages ?? 0), bytes: Number(bytes ?? 0) };
  }

  /** Counts one message of `bytes`; resolves with the totals this hour, that message included. */
  async add(client: string, bytes: number): Promise<HourUsage> {
    const [m, b] = [this.keyOf('messages', client), this.keyOf('bytes', client)];
    const results = await this.redis.multi().set(m, 0, 'EX', 3600, 'NX').incrby(m, 1).set(b, 0, 'EX', 3600, 'NX').incrby(b, bytes).exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('quota transaction aborted');
    return { messages: Number(results[1]![1]), bytes: Number(results[3]![1]) };
  }
}
