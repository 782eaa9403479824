import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { REDIS_URL } from '../helpers/context.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });

/** Starts a role as `npm start` would, waits for a log line, and returns the child with its output. */
function start(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const waitFor = async (pattern: RegExp, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never saw ${pattern}:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, exited, waitFor, output: () => output };
}

describe('processes', () => {
  it('refuses to start in production without the required settings, naming each', async () => {
    const p = start('src/server.ts', { NODE_ENV: 'production', REDIS_URL: '', SESSION_SECRET: '', SMTP_URL: '' });
    assert.equal(await p.exited, 78);
    for (const key of ['SESSION_SECRET', 'SMTP_URL', 'REDIS_URL']) assert.match(p.output(), new RegExp(key));
  });

  it('runs web and worker together (npm start) and shuts down cleanly on SIGTERM', async () => {
    const prefix = `pm-test-proc-${randomBytes(4).toString('hex')}`;
    const port = await freePort();
    const p = start('src/main.ts', { NODE_ENV: 'test', REDIS_URL, REDIS_PREFIX: prefix, PORT: String(port), SMTP_URL: '' });
    try {
      await p.waitFor(/portal ready/);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.deepEqual(await res.json(), { ok: true });
      const outbox = await fetch(`http://127.0.0.1:${port}/dev/outbox`);
      assert.equal(outbox.status, 200);
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0);
      assert.match(p.output(), /"msg":"stopped"/);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      const redis = createRedis(REDIS_URL, 'cli');
      await deleteByPattern(redis, createKeys(prefix).all);
      await redis.quit();
    }
  });

  it('runs the worker role alone and stops on SIGTERM', async () => {
    const prefix = `pm-test-proc-${randomBytes(4).toString('hex')}`;
    const p = start('worker/index.ts', { NODE_ENV: 'test', REDIS_URL, REDIS_PREFIX: prefix });
    try {
      await p.waitFor(/worker started/);
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0);
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
      const redis = createRedis(REDIS_URL, 'cli');
      await deleteByPattern(redis, createKeys(prefix).all);
      await redis.quit();
    }
  });
});
