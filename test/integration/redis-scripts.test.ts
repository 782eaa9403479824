import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { defineScripts, SCRIPTS } from '../../src/redis/scripts.js';
import { REDIS_URL } from '../helpers/context.js';

describe('the Lua scripts (src/redis/scripts/*.lua, one loader)', () => {
  const redis = createRedis(REDIS_URL, 'cli');
  const prefix = `pm-test-${randomBytes(6).toString('hex')}:`;
  after(async () => {
    await deleteByPattern(redis, `${prefix}*`);
    await redis.quit();
  });

  it('every file is named <command>-<keys>.lua and becomes a command', () => {
    assert.ok(SCRIPTS.some((s) => s.name === 'giveBack' && s.numberOfKeys === 1));
    const scripts = defineScripts(redis);
    assert.equal(typeof scripts.giveBack, 'function');
    assert.equal(defineScripts(redis), scripts, 'defining twice keeps the commands');
  });

  it('giveBack takes one off a live counter and never makes up one that expired (no endless credit)', async () => {
    const scripts = defineScripts(redis);
    const live = `${prefix}live`;
    await redis.set(live, '3', 'PX', 60_000);
    assert.equal(await scripts.giveBack(live), 2);
    assert.ok((await redis.pttl(live)) > 0, 'the window is kept');
    const gone = `${prefix}gone`;
    assert.equal(await scripts.giveBack(gone), 0);
    assert.equal(await redis.exists(gone), 0, 'no counter at -1 without expiry');
  });
});
