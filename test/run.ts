/**
 * `npm test`: the whole suite against a real Redis, with the same rule as `npm start` (REDIS_URL, else
 * 127.0.0.1:6379, else redis-server started from PATH). Node's test runner prints its own summary.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureRedis } from '../src/redis/embedded.js';

const redis = await ensureRedis(process.env.REDIS_URL, 'var/redis-test');
// Node 20's runner takes no globs: list every test/…/*.test.ts ourselves.
const allTests = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allTests(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []));

const files = process.argv.slice(2);
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...(files.length ? files : allTests('test').sort())], {
  stdio: 'inherit',
  env: { ...process.env, REDIS_URL: redis.url, NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
});
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await redis.stop();
process.exit(code);
