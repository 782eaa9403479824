import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { Kysely } from 'kysely';
import type { Database } from '../../src/db/schema.js';
import { testDb, type TestDb } from '../helpers/db.js';

/**
 * The challenge pattern the stores will use: a link is used up by ONE conditional UPDATE (still unused and not
 * expired), and the request's next step is written in the same transaction. PostgreSQL's row lock makes racing
 * callers wait for the first to commit and then re-check the condition, so exactly one of them wins.
 */
const hashOf = (token: string) => createHash('sha256').update(token).digest();
const newRequestId = () => randomBytes(12).toString('base64url');

async function createWithChallenge(db: Kysely<Database>, token: string, expiresAt: Date): Promise<string> {
  const id = newRequestId();
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('requests').values({ id, type: 'delist', state: 'awaiting_confirmation', email: 'a@example.org', ip: '192.0.2.1' }).execute();
    await trx.insertInto('challenges').values({ id: randomBytes(16).toString('base64url'), request_id: id, token_hash: hashOf(token), expires_at: expiresAt }).execute();
  });
  return id;
}

/** Uses the challenge up and queues the request, or does nothing; returns the request id when this caller won. */
async function useUp(db: Kysely<Database>, token: string, now: Date, beforeUpdate?: () => Promise<void>): Promise<string | null> {
  return db.transaction().execute(async (trx) => {
    await beforeUpdate?.();
    const won = await trx
      .updateTable('challenges')
      .set({ used_at: now })
      .where('token_hash', '=', hashOf(token))
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .returning('request_id')
      .executeTakeFirst();
    if (!won) return null;
    await trx.updateTable('requests').set({ state: 'queued', updated_at: now }).where('id', '=', won.request_id).execute();
    await trx.insertInto('request_events').values({ request_id: won.request_id, at: now, state: 'queued', message: 'confirmed' }).execute();
    await trx.insertInto('job_outbox').values({ queue: 'requests', job_name: 'delist', job_id: `delist-${won.request_id}`, payload: JSON.stringify({ requestId: won.request_id }) }).execute();
    // Hold the row lock a moment, so the other callers are certainly queued behind it and must re-check after the commit.
    await new Promise((r) => setTimeout(r, 50));
    return won.request_id;
  });
}

let t: TestDb;
before(async () => {
  t = await testDb({ max: 25 });
});
after(() => t.cleanup());

test('20 concurrent attempts to use one challenge: exactly one wins, and only its writes exist', async () => {
  const token = randomBytes(32).toString('base64url');
  const requestId = await createWithChallenge(t.db, token, new Date(Date.now() + 3_600_000));

  // Every caller opens its transaction first; the updates start only when all 20 are open at once.
  const n = 20;
  let arrived = 0;
  let release!: () => void;
  const allOpen = new Promise<void>((r) => (release = r));
  const barrier = async () => {
    if (++arrived === n) release();
    await allOpen;
  };
  const now = new Date();
  const results = await Promise.all(Array.from({ length: n }, () => useUp(t.db, token, now, barrier)));

  assert.deepEqual(results.filter((r) => r !== null), [requestId], 'exactly one winner');
  const challenge = await t.db.selectFrom('challenges').select(['used_at']).where('request_id', '=', requestId).executeTakeFirstOrThrow();
  assert.equal(challenge.used_at?.getTime(), now.getTime());
  const request = await t.db.selectFrom('requests').select('state').where('id', '=', requestId).executeTakeFirstOrThrow();
  assert.equal(request.state, 'queued');
  const events = await t.db.selectFrom('request_events').select('state').where('request_id', '=', requestId).execute();
  assert.deepEqual(events, [{ state: 'queued' }], 'one timeline event, not one per caller');
  const jobs = await t.db.selectFrom('job_outbox').select('job_id').where('job_id', '=', `delist-${requestId}`).execute();
  assert.equal(jobs.length, 1, 'one job');

  assert.equal(await useUp(t.db, token, new Date()), null, 'a used link stays used');
});

test('an expired challenge cannot be used, and an unknown token matches nothing', async () => {
  const token = randomBytes(32).toString('base64url');
  const created = new Date(Date.now() - 2 * 3_600_000);
  const id = newRequestId();
  await t.db.transaction().execute(async (trx) => {
    await trx.insertInto('requests').values({ id, type: 'report', state: 'awaiting_confirmation', created_at: created, updated_at: created }).execute();
    await trx.insertInto('challenges').values({ id: `x${id}`, request_id: id, token_hash: hashOf(token), created_at: created, expires_at: new Date(created.getTime() + 3_600_000) }).execute();
  });
  assert.equal(await useUp(t.db, token, new Date()), null);
  assert.equal(await useUp(t.db, randomBytes(32).toString('base64url'), new Date()), null);
  const row = await t.db.selectFrom('challenges').select('used_at').where('request_id', '=', id).executeTakeFirstOrThrow();
  assert.equal(row.used_at, null, 'an expired link is left as it was');
});
