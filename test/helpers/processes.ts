import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isListening } from '../../src/redis/embedded.js';
import { dropSchema, newSchemaName } from './db.js';

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

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
