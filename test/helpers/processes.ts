import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePostgres } from '../../src/db/embedded.js';
import { isListening } from '../../src/redis/embedded.js';
import { dropSchema, newSchemaName } from './db.js';

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/**
 * A private PostgreSQL cluster (initdb'd in a temporary directory, on a unix socket of its own) that a test may crash
 * (SIGKILL of the postmaster and every backend: the next start runs crash recovery) and start again on the same data.
 */
export async function privatePostgres(database = 'postmaster_fault') {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'pm-pg-fault-'));
  const opts = { probe: false, dataDir, database };
  let handle = await ensurePostgres(undefined, opts);
  const crash = async () => {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    let children: number[] = [];
    try {
      children = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
    } catch {
      // no backends
    }
    for (const p of [pid, ...children]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    for (let i = 0; i < 100 && [pid, ...children].some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  };
  const start = async () => {
    handle = await ensurePostgres(undefined, opts);
  };
  const stop = async () => {
    await handle.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { url: handle.url, dataDir, crash, start, stop };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A private redis-server with AOF fsynced on every write, that a test may kill -9 and start again on the same data. */
export async function privateRedis() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-redis-'));
  let child: ChildProcess | null = null;
  const start = async () => {
    child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      if (await isListening('127.0.0.1', port, 200)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('private redis-server did not start');
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  };
  await start();
  return { url: `redis://127.0.0.1:${port}`, port, start, kill };
}

/**
 * The PostgreSQL schema of the processes a test starts under one Redis prefix (the same prefix, the same schema, so a
 * restarted process finds its data), unless the test names one (a context's own: `DATABASE_SCHEMA: ctx.schema`).
 * The processes create and migrate it at start (development and test do); it is dropped when the test file ends.
 */
const schemaOfPrefix = new Map<string, string>();
process.once('beforeExit', () => {
  void Promise.all([...schemaOfPrefix.values()].map((schema) => dropSchema(schema).catch(() => {})));
});
function databaseEnv(env: Record<string, string>): Record<string, string> {
  if (env.DATABASE_SCHEMA || !env.REDIS_PREFIX) return {};
  const schema = schemaOfPrefix.get(env.REDIS_PREFIX) ?? newSchemaName();
  schemaOfPrefix.set(env.REDIS_PREFIX, schema);
  return { DATABASE_SCHEMA: schema };
}

/** Starts a role (src/main.ts, src/server.ts, worker/index.ts) as its own process and waits for a log line. */
export function startRole(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'test', ...databaseEnv(env), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => output,
    async waitFor(pattern: RegExp, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(output)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never saw ${pattern}:\n${output.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    kill: (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
