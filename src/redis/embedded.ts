import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export class RedisUnavailableError extends Error {
  readonly code = 'REDIS_UNAVAILABLE';
}

export interface RedisHandle {
  url: string;
  /** Stops the redis-server this process started (AOF keeps the data); a no-op otherwise. */
  stop(): Promise<void>;
}

/** True when something accepts TCP connections on host:port within the timeout. */
export function isListening(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The embedded default: use REDIS_URL when set; else 127.0.0.1:6379 if something answers there;
 * else start `redis-server` from PATH with AOF under ./var/redis (fsync on every write: whatever a user was told is
 * stored survives a crash), or fail with a message saying how to install it.
 */
export async function ensureRedis(redisUrl: string | undefined, dataDir = path.resolve('var/redis')): Promise<RedisHandle> {
  if (redisUrl) return { url: redisUrl, stop: async () => {} };
  if (await isListening('127.0.0.1', 6379)) return { url: DEFAULT_REDIS_URL, stop: async () => {} };

  if (spawnSync('redis-server', ['--version']).error) {
    throw new RedisUnavailableError(
      'Nothing answers on 127.0.0.1:6379 and redis-server is not on PATH.\n' +
        'Install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) or set REDIS_URL.',
    );
  }
  mkdirSync(dataDir, { recursive: true });
  const child = spawn(
    'redis-server',
    ['--bind', '127.0.0.1', '--port', '6379', '--dir', dataDir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--logfile', path.join(dataDir, 'redis.log')],
    { stdio: 'ignore' },
  );
  await waitUntilListening(child);
  return { url: DEFAULT_REDIS_URL, stop: () => stopChild(child) };
}

async function waitUntilListening(child: ChildProcess): Promise<void> {
  let exited = false;
  child.once('exit', () => (exited = true));
  for (let i = 0; i < 100 && !exited; i++) {
    if (await isListening('127.0.0.1', 6379, 200)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new RedisUnavailableError('redis-server was started but never answered on 127.0.0.1:6379 (see var/redis/redis.log).');
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
