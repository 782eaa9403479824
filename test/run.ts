/**
 * `npm test`: the whole suite against a real Redis, with the same rule as `npm start` (REDIS_URL, else
 * 127.0.0.1:6379, else redis-server started from PATH). Node's test runner prints its own summary.
 */
import { spawn } from 'node:child_process';
import { ensureRedis } from '../src/redis/embedded.js';

const redis = await ensureRedis(process.env.REDIS_URL, 'var/redis-test');
const files = process.argv.slice(2);
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=120000', ...(files.length ? files : ['test/**/*.test.ts'])], {
  stdio: 'inherit',
  env: { ...process.env, REDIS_URL: redis.url, NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
});
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await redis.stop();
process.exit(code);
