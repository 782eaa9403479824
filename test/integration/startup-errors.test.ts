import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { testDb, type TestDb } from '../helpers/db.js';
import { REDIS_URL } from '../helpers/context.js';
import { freePort, privateRedis, startRole } from '../helpers/processes.js';

/**
 * Issue 13 review: start-up and run-time errors the operator sees. A taken ABUSE_SMTP_PORT is a configuration error
 * like a taken PORT (exit 78, a line naming the key, no stack trace); a web role whose Redis does not answer says so
 * in its log, in pino's lines, instead of printing raw `Error: connect ECONNREFUSED … at TCPConnectWrap` traces.
 */
const taken = async (): Promise<{ server: Server; port: number }> => {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, port: (server.address() as { port: number }).port };
};

const prefix = () => `pm-test-starterr-${randomBytes(4).toString('hex')}`;

/** No stack trace and no raw error object: the lines a person reads, or pino's JSON. */
function assertNoRawErrors(output: string): void {
  assert.doesNotMatch(output, /^\s+at\s/m, output);
  assert.doesNotMatch(output, /TCPConnectWrap|node:internal|errno: -\d+/, output);
}

describe('start-up: ABUSE_SMTP_PORT already taken', () => {
  it('npm run start:smtp exits 78 with a line naming ABUSE_SMTP_PORT, no stack trace', async () => {
    const { server, port } = await taken();
    try {
      const p = startRole('src/smtp-main.ts', { REDIS_URL, REDIS_PREFIX: prefix(), HOST: '127.0.0.1', ABUSE_SMTP_PORT: String(port) });
      assert.equal(await p.exited, 78, p.output());
      assert.match(p.output(), /^ {2}ABUSE_SMTP_PORT: cannot listen on 127\.0\.0\.1:\d+: the port is already in use$/m);
      assertNoRawErrors(p.output());
    } finally {
      server.close();
    }
  });

  it('npm start (all roles in one process) exits 78 the same way', async () => {
    const { server, port } = await taken();
    try {
      const p = startRole('src/main.ts', { REDIS_URL, REDIS_PREFIX: prefix(), HOST: '127.0.0.1', PORT: String(await freePort()), ABUSE_SMTP_PORT: String(port), SMTP_URL: '' });
      assert.equal(await p.exited, 78, p.output());
      assert.match(p.output(), /^ {2}ABUSE_SMTP_PORT: cannot listen on 127\.0\.0\.1:\d+: the port is already in use$/m);
      assertNoRawErrors(p.output());
    } finally {
      server.close();
    }
  });
});

describe('run time: Redis does not answer', () => {
  let db: TestDb | null = null;
  after(() => db?.cleanup());

  it('a production web role logs it through pino, once, instead of printing stack traces on every reconnect', async () => {
    db = await testDb(); // production refuses a schema behind the code: migrated first, as `npm run migrate` would
    const port = await freePort();
    const p = startRole('src/server.ts', {
      NODE_ENV: 'production',
      REDIS_URL: 'redis://127.0.0.1:1',
      REDIS_PREFIX: prefix(),
      DATABASE_URL: db.url,
      DATABASE_SCHEMA: db.schema,
      PORT: String(port),
      HOST: '127.0.0.1',
      SESSION_SECRET: randomBytes(32).toString('base64'),
      SNAPSHOT_SIGNING_KEY: randomBytes(32).toString('base64'),
      SMTP_URL: 'smtp://127.0.0.1:1',
    });
    try {
      await p.waitFor(/web listening/);
      // Requests that reach Redis fail on their own (a 5xx page); they print nothing either.
      await fetch(`http://127.0.0.1:${port}/healthz`);
      await fetch(`http://127.0.0.1:${port}/lookup?ip=192.0.2.1`);
      await new Promise((r) => setTimeout(r, 3000));
      const early = p.output();
      await new Promise((r) => setTimeout(r, 3000)); // ioredis retries every 2 s at most: several attempts each way
      const output = p.output();
      assert.equal(p.child.exitCode, null, 'still running');
      assertNoRawErrors(output);
      const lines = output.split('\n').filter((l) => l.trim());
      for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `a line that is not pino's: ${line}`);
      const redisLines = lines.filter((l) => /redis/i.test(String(JSON.parse(l).msg)));
      assert.ok(redisLines.length >= 1, `the log says Redis does not answer:\n${output}`);
      assert.match(redisLines[0]!, /ECONNREFUSED/);
      assert.equal(output.split('\n').filter((l) => /redis/i.test(l)).length, early.split('\n').filter((l) => /redis/i.test(l)).length, 'one line per outage, not one per reconnect attempt');
    } finally {
      await p.kill('SIGKILL');
    }
  });

  it('a web role started while Redis is down serves its rate-limited pages once Redis is back, without a restart', async () => {
    const redis = await privateRedis();
    await redis.kill();
    const port = await freePort();
    const p = startRole('src/server.ts', { REDIS_URL: redis.url, REDIS_PREFIX: prefix(), HOST: '127.0.0.1', PORT: String(port) });
    try {
      await p.waitFor(/web listening/);
      assert.equal((await fetch(`http://127.0.0.1:${port}/lookup?ip=192.0.2.1`)).status, 503, 'no Redis: a clear 503');
      await redis.start();
      await p.waitFor(/redis connection back/, 10_000);
      const statuses: number[] = [];
      for (const path of ['/lookup?ip=192.0.2.1', '/api/v1/blocklist/check/192.0.2.1']) {
        statuses.push((await fetch(`http://127.0.0.1:${port}${path}`)).status);
      }
      assert.deepEqual(statuses, [200, 200], p.output());
      assertNoRawErrors(p.output());
      assert.doesNotMatch(p.output(), /express-rate-limit/);
    } finally {
      await p.kill('SIGKILL');
      await redis.kill();
    }
  });
});
