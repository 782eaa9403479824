import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { publicKeyPem, signingKeyFrom } from '../../src/domain/signing.js';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { REDIS_URL } from '../helpers/context.js';
import { freePort } from '../helpers/processes.js';
import { dropSchema, lazyTestDb, newSchemaName } from '../helpers/db.js';

/**
 * Issue 13 (fail closed; config errors): each entry point started as operators start it, with an environment of its
 * own. Nothing of the test runner's environment that the portal reads is passed on, so NODE_ENV is unset unless a
 * case sets it.
 */
const PORTAL_KEYS = ['NODE_ENV', 'PORT', 'HOST', 'REDIS_URL', 'REDIS_PREFIX', 'PUBLIC_URL', 'SMTP_URL', 'MAIL_FROM', 'SESSION_SECRET', 'SNAPSHOT_SIGNING_KEY', 'POLICY_FILE', 'ABUSE_SMTP_PORT', 'LOG_LEVEL', 'WORKER_LOCK_MS', 'TRUST_PROXY'];
const baseEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !PORTAL_KEYS.includes(k))) as Record<string, string>;

const SECRET = randomBytes(32).toString('base64');
const KEY = randomBytes(32).toString('base64');
const prefixes: string[] = [];
const schemas: string[] = [];
/** A Redis prefix and a PostgreSQL schema of the started process's own (development migrates the schema at start). */
const isolated = () => {
  const p = `pm-test-start-${randomBytes(4).toString('hex')}`;
  const schema = newSchemaName();
  prefixes.push(p);
  schemas.push(schema);
  return { REDIS_PREFIX: p, DATABASE_SCHEMA: schema };
};
/** The same for production, which refuses to start on a schema with pending migrations: migrated first, as `npm run migrate` would. */
const isolatedMigrated = async () => {
  const env = isolated();
  const db = lazyTestDb(env.DATABASE_SCHEMA, 1);
  try {
    await db.selectFrom('job_outbox').select('id').limit(1).execute(); // the first query creates and migrates the schema
  } finally {
    await db.destroy();
  }
  return env;
};

/** Runs a command with exactly `env` on top of the clean base; resolves when it exits (or is killed at `timeoutMs`). */
function run(cmd: string[], env: Record<string, string>, timeoutMs = 30_000) {
  // A process group of its own, so stopping it reaches npm's and tsx's children as well.
  const child = spawn(cmd[0]!, cmd.slice(1), { env: { ...baseEnv(), LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(() => signal('SIGKILL'), timeoutMs);
  // 'close': the process exited and every process holding its output (npm's, tsx's children) is gone too.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => (clearTimeout(timer), resolve(code))));
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitFor(pattern: RegExp, ms = 30_000) {
      const deadline = Date.now() + ms;
      while (!pattern.test(stdout + stderr)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`never saw ${pattern}:\n${(stdout + stderr).slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** SIGTERM to the group; resolves with the exit code once everything in it is gone. */
    async stop() {
      if (child.exitCode === null) signal('SIGTERM');
      return exited;
    },
  };
}

const node = (entry: string) => [process.execPath, '--import', 'tsx', entry];
const ENTRIES = { web: node('src/server.ts'), worker: node('worker/index.ts'), all: node('src/main.ts') };

/** No stack trace, no error class name: only the lines the portal wrote. */
function assertNoStackTrace(text: string): void {
  assert.doesNotMatch(text, /^\s+at\s/m, text);
  assert.doesNotMatch(text, /\b[A-Z]\w*Error\b|node:internal|\.ts:\d+/, text);
}

/** Exit 78, and a line `  KEY: …` on stderr for each key named. */
async function refuses(p: ReturnType<typeof run>, keys: string[], absent: string[] = []): Promise<string> {
  assert.equal(await p.exited, 78, p.stdout() + p.stderr());
  const err = p.stderr();
  assertNoStackTrace(err + p.stdout());
  assert.match(err, /^(Invalid configuration|Invalid policy file|Cannot read policy file)/m);
  for (const key of keys) assert.match(err, new RegExp(`^  ${key.replace(/\./g, '\\.')}: \\S`, 'm'), `${key} in:\n${err}`);
  for (const key of absent) assert.doesNotMatch(err, new RegExp(`^  ${key}:`, 'm'), `${key} should not be named:\n${err}`);
  return err;
}

const otherAddress = () => Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4')?.address;

after(async () => {
  const redis = createRedis(REDIS_URL, 'cli');
  for (const p of prefixes) await deleteByPattern(redis, createKeys(p).all);
  await redis.quit();
  for (const schema of schemas) await dropSchema(schema);
});

describe('start-up: fail closed', () => {
  it('start:web and start:worker with nothing set are production: they name every missing secret and exit 78', async () => {
    const [web, worker] = [run(ENTRIES.web, {}), run(ENTRIES.worker, {})];
    await refuses(web, ['SESSION_SECRET', 'SNAPSHOT_SIGNING_KEY', 'SMTP_URL', 'REDIS_URL', 'NODE_ENV']);
    await refuses(worker, ['SESSION_SECRET', 'SMTP_URL', 'REDIS_URL', 'NODE_ENV'], ['SNAPSHOT_SIGNING_KEY']);
  });

  it('npm run start:web with nothing set refuses the same way', async () => {
    const p = run(['npm', 'run', '--silent', 'start:web'], {});
    assert.equal(await p.exited, 78);
    assert.match(p.stderr(), /^  SESSION_SECRET: is required in production/m);
    assert.doesNotMatch(p.stderr(), /^\s+at\s/m);
  });

  it('refuses the development secrets on a HOST that is not loopback: npm start with HOST=0.0.0.0, a role in development on ::', async () => {
    const all = run(ENTRIES.all, { HOST: '0.0.0.0' });
    const web = run(ENTRIES.web, { NODE_ENV: 'development', HOST: '::' });
    const test = run(ENTRIES.worker, { NODE_ENV: 'test', HOST: '0.0.0.0' });
    await refuses(all, ['SESSION_SECRET', 'SNAPSHOT_SIGNING_KEY']);
    await refuses(web, ['SESSION_SECRET', 'SNAPSHOT_SIGNING_KEY']);
    await refuses(test, ['SESSION_SECRET'], ['SNAPSHOT_SIGNING_KEY']);
  });

  it('refuses the public development secret written out in production', async () => {
    const devSecret = /DEV_SECRET = '([^']+)'/.exec(readFileSync('src/config.ts', 'utf8'))![1]!;
    const p = run(ENTRIES.web, { NODE_ENV: 'production', SESSION_SECRET: devSecret, SNAPSHOT_SIGNING_KEY: KEY, SMTP_URL: 'smtp://127.0.0.1:1', REDIS_URL });
    assert.match(await refuses(p, ['SESSION_SECRET']), /public development secret/);
  });

  it('npm start with no environment is the local development run: on 127.0.0.1 only, with the dev outbox', async () => {
    const port = await freePort();
    // Only what keeps the test off the shared defaults (the Redis prefix, the port); NODE_ENV, HOST and secrets unset.
    const p = run(['npm', 'start', '--silent'], { REDIS_URL, ...isolated(), PORT: String(port) });
    try {
      await p.waitFor(/portal ready/);
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json(), { ok: true });
      assert.equal((await fetch(`http://127.0.0.1:${port}/dev/outbox`)).status, 200);
      const other = otherAddress();
      if (other) await assert.rejects(fetch(`http://${other}:${port}/healthz`), 'not listening on other addresses');
    } finally {
      await p.stop();
    }
    assert.match(p.stdout(), /"msg":"stopped"/, 'shut down cleanly');
    assertNoStackTrace(p.stderr());
  });

  it('start:web with the production settings runs on every address, with no dev outbox, signing with SNAPSHOT_SIGNING_KEY', async () => {
    const port = await freePort();
    const p = run(['npm', 'run', '--silent', 'start:web'], { REDIS_URL, ...(await isolatedMigrated()), PORT: String(port), SESSION_SECRET: SECRET, SNAPSHOT_SIGNING_KEY: KEY, SMTP_URL: 'smtp://127.0.0.1:1' });
    try {
      await p.waitFor(/web listening/);
      const other = otherAddress();
      const base = `http://${other ?? '127.0.0.1'}:${port}`;
      assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { ok: true });
      assert.equal((await fetch(`http://127.0.0.1:${port}/dev/outbox`)).status, 404);
      const published = await (await fetch(`${base}/api/v1/routing/public-key`)).text();
      assert.equal(published, publicKeyPem(signingKeyFrom({ snapshotSigningKey: KEY, secret: '' })));
      assert.notEqual(published, publicKeyPem(signingKeyFrom({ secret: SECRET })), 'not derived from SESSION_SECRET');
    } finally {
      await p.stop();
    }
    assert.match(p.stdout(), /"msg":"stopped"/, 'shut down cleanly');
  });
});

describe('start-up: configuration errors of every kind exit 78 with a line per key', () => {
  it('names every bad key at once (web role), never with a stack trace', async () => {
    const p = run(ENTRIES.web, {
      NODE_ENV: 'test',
      TRUST_PROXY: 'bogus',
      SNAPSHOT_SIGNING_KEY: 'garbage',
      HOST: 'not-a-host',
      PORT: 'abc',
      REDIS_URL: 'http://127.0.0.1:6379',
      MAIL_FROM: 'garbage',
      PUBLIC_URL: 'javascript:alert(1)',
      LOG_LEVEL: 'loud',
    });
    await refuses(p, ['TRUST_PROXY', 'SNAPSHOT_SIGNING_KEY', 'HOST', 'PORT', 'REDIS_URL', 'MAIL_FROM', 'PUBLIC_URL', 'LOG_LEVEL']);
  });

  it('a bad policy file: unreadable, not JSON, a bad key, a bad range (worker and web)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pm-policy-'));
    const policy = JSON.parse(readFileSync('src/policy.json', 'utf8'));
    writeFileSync(path.join(dir, 'broken.json'), '{ "challenge": ');
    writeFileSync(path.join(dir, 'key.json'), JSON.stringify({ ...policy, challenge: { ...policy.challenge, ttlMinutes: -1 } }));
    writeFileSync(path.join(dir, 'range.json'), JSON.stringify({ ...policy, network: { ...policy.network, pools: { ...policy.network.pools, normal: ['203.0.113.1/26', 'not-a-range'] } }, allowlist: { ...policy.allowlist, refusedRanges: ['10.0.0.0/33'] } }));
    const env = { NODE_ENV: 'test', REDIS_URL, ...isolated() };
    const runs = [
      run(ENTRIES.worker, { ...env, POLICY_FILE: path.join(dir, 'missing.json') }),
      run(ENTRIES.web, { ...env, POLICY_FILE: path.join(dir, 'broken.json') }),
      run(ENTRIES.web, { ...env, POLICY_FILE: path.join(dir, 'key.json') }),
      run(ENTRIES.all, { ...env, POLICY_FILE: path.join(dir, 'range.json') }),
    ];
    assert.match(await refuses(runs[0]!, ['POLICY_FILE']), /Cannot read policy file .*missing\.json/);
    assert.match(await refuses(runs[1]!, ['POLICY_FILE']), /Cannot read policy file .*broken\.json:\n  POLICY_FILE: not JSON/);
    await refuses(runs[2]!, ['challenge.ttlMinutes']);
    await refuses(runs[3]!, ['network.pools.normal.0', 'network.pools.normal.1', 'allowlist.refusedRanges.0']);
  });

  it('a port in use, or a HOST that is not an address of this machine', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => taken.once('listening', r));
    try {
      const port = (taken.address() as { port: number }).port;
      const env = { NODE_ENV: 'test', REDIS_URL, ...isolated() };
      const inUse = run(ENTRIES.web, { ...env, PORT: String(port) });
      const inUseAll = run(ENTRIES.all, { ...env, PORT: String(port) });
      const foreign = run(ENTRIES.web, { ...env, HOST: '198.51.100.77', PORT: String(await freePort()), SESSION_SECRET: SECRET, SNAPSHOT_SIGNING_KEY: KEY });
      assert.match(await refuses(inUse, ['PORT']), /already in use/);
      assert.match(await refuses(inUseAll, ['PORT']), /already in use/);
      assert.match(await refuses(foreign, ['HOST']), /not an address of this machine/);
    } finally {
      taken.close();
    }
  });
});

describe('start-up: what used to crash', () => {
  it('TRUST_PROXY=true starts (with a warning), and neither a bad pm_lang cookie nor forwarded headers print a stack trace', async () => {
    const port = await freePort();
    const p = run(ENTRIES.web, { NODE_ENV: 'development', TRUST_PROXY: 'true', REDIS_URL, ...isolated(), PORT: String(port) });
    try {
      await p.waitFor(/web listening/);
      assert.match(p.stdout(), /TRUST_PROXY=true trusts every X-Forwarded-For hop/);
      const base = `http://127.0.0.1:${port}`;
      const bad = await fetch(`${base}/unblock`, { method: 'POST', headers: { cookie: 'pm_lang=%E0%A4%A', 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: 'tenant=x' });
      assert.equal(bad.status, 403);
      for (const headers of [{ 'x-forwarded-for': '198.51.100.1' }, { forwarded: 'for=198.51.100.1' }] as Array<Record<string, string>>) {
        assert.equal((await fetch(`${base}/api/v1/blocklist/check/192.0.2.1`, { headers })).status, 200);
      }
      assert.equal((await fetch(`${base}/STAFF/login`)).status, 404);
      assert.equal((await fetch(`${base}/dev/outbox`, { headers: { 'x-forwarded-for': '198.51.100.1' } })).status, 404);
      assert.equal((await fetch(`${base}/dev/outbox`)).status, 200);
    } finally {
      assert.equal(await p.stop(), 0);
    }
    assert.doesNotMatch(p.stderr(), /^\s+at\s/m, p.stderr());
    assert.doesNotMatch(p.stdout() + p.stderr(), /URIError|ERR_ERL_/);
  });
});
