import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { REDIS_URL } from '../helpers/context.js';

const run = promisify(execFile);
const prefix = `pm-test-cli-${randomBytes(4).toString('hex')}`;

/** Runs `postmaster …` as an operator would (bin/postmaster.js), under this test's own prefix. */
async function postmaster(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['bin/postmaster.js', ...args], { env: { ...process.env, REDIS_URL, REDIS_PREFIX: prefix, NODE_ENV: 'test' } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('npx postmaster', () => {
  const redis = createRedis(REDIS_URL, 'cli');
  before(() => redis.ping());
  after(async () => {
    await deleteByPattern(redis, createKeys(prefix).all);
    await redis.quit();
  });

  it('lists a range, excludes one address inside it, and checks both', async () => {
    const add = await postmaster('block', 'add', '198.51.100.0/24', '--category', 'spam-source', '--expires', '7d', '--note', 'from a trap');
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /listed 198\.51\.100\.0\/24 \(spam-source\)/);
    const remove = await postmaster('block', 'remove', '198.51.100.23');
    assert.match(remove.stdout, /excluded 198\.51\.100\.23 from 198\.51\.100\.0\/24/);
    assert.match((await postmaster('check', '198.51.100.23')).stdout, /is not listed/);
    assert.match((await postmaster('check', '198.51.100.24')).stdout, /is listed by 198\.51\.100\.0\/24/);
    const list = JSON.parse((await postmaster('block', 'list', '--json')).stdout);
    assert.deepEqual(list.blocklist.map((e: { cidr: string }) => e.cidr), ['198.51.100.0/24']);
    assert.deepEqual(list.exclusions.map((e: { cidr: string }) => e.cidr), ['198.51.100.23']);
    assert.equal(list.version, 2);
  });

  it('refuses a CIDR with host bits set, an unknown category and a bad expiry, changing nothing', async () => {
    const hostBits = await postmaster('block', 'add', '198.51.100.1/24', '--category', 'spam-source');
    assert.equal(hostBits.code, 2);
    assert.match(hostBits.stderr, /198\.51\.100\.0\/24/);
    assert.equal((await postmaster('block', 'add', '192.0.2.1', '--category', 'nope')).code, 2);
    assert.equal((await postmaster('block', 'add', '192.0.2.1', '--category', 'manual', '--expires', 'soon')).code, 2);
    assert.equal((await postmaster('block', 'remove', '192.0.2.99')).code, 2);
    assert.equal(JSON.parse((await postmaster('block', 'list', '--json')).stdout).version, 2);
  });

  it('assigns a tenant to a pool with an expiry, lists it, releases it, and refuses a missing target', async () => {
    const assign = await postmaster('pool', 'assign', '--tenant', 'acme-1', '--pool', 'high-risk', '--expires', '72h', '--reason', 'spam run');
    assert.equal(assign.code, 0, assign.stderr);
    assert.match(assign.stdout, /assigned tenant acme-1 to high-risk until 20\d\d-/);
    const listed = JSON.parse((await postmaster('pool', 'list', '--json')).stdout);
    assert.deepEqual(listed.assignments.map((a: { key: string; pool: string }) => `${a.key}:${a.pool}`), ['acme-1:high-risk']);
    assert.match((await postmaster('pool', 'release', '--tenant', 'acme-1')).stdout, /released tenant acme-1/);
    const neither = await postmaster('pool', 'assign', '--pool', 'relay', '--reason', 'x');
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /exactly one of --tenant/);
  });

  it('creates an API token that is printed once', async () => {
    const res = await postmaster('token', 'create', 'routing-engine');
    assert.match(res.stdout.trim(), /^pmt_[A-Za-z0-9_-]{43}$/);
  });
});
