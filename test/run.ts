/**
 * `npm test`: the whole suite against a real Redis, with the same rule as `npm start` (REDIS_URL, else
 * 127.0.0.1:6379, else redis-server started from PATH), and a real PostgreSQL (see below). Node's test runner prints its own summary.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureRedis } from '../src/redis/embedded.js';
import { ensurePostgres } from '../src/db/embedded.js';
import { dropStaleTestSchemas } from './helpers/db.js';

const redis = await ensureRedis(process.env.REDIS_URL, 'var/redis-test');
// PostgreSQL by the same rule (DATABASE_URL, else a local server that accepts us, else a private cluster under
// var/postgres-test), in a database of the tests' own; each test file then works in a schema of its own (test/helpers/db.ts).
const postgres = await ensurePostgres(process.env.DATABASE_URL, { dataDir: 'var/postgres-test', database: 'postmaster_test' }).catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exit(69);
});
process.env.DATABASE_URL = postgres.url;
await dropStaleTestSchemas(); // left by runs killed before their clean-up (a day old at least: never one in use)
// Node 20's runner takes no globs: list every test/…/*.test.ts ourselves.
const allTests = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allTests(path.join(dir, e.name)) : e.name.endsWith('.test.ts') ? [path.join(dir, e.name)] : []));

const files = process.argv.slice(2);
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=300000', ...(files.length ? files : allTests('test').sort())], {
  stdio: 'inherit',
  env: { ...process.env, REDIS_URL: redis.url, DATABASE_URL: postgres.url, NODE_ENV: 'test', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' },
});
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await redis.stop();
await postgres.stop();
process.exit(code);
