import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { REDIS_URL } from '../helpers/context.js';
import { freePort, startRole } from '../helpers/processes.js';

const start = (entry: string, env: Record<string, string>) => startRole(entry, { NODE_ENV: 'test', ...env });

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
