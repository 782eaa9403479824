import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { clientConfig, notifyChannel } from '../../src/db/connection.js';
import { testDb, type TestDb } from '../helpers/db.js';

/**
 * The job outbox as a table: an entry is written in the transaction of the change that calls for its job, so the
 * record and its job exist together or not at all; committing wakes the relay (NOTIFY), a rollback wakes nobody.
 */
let t: TestDb;
before(async () => {
  t = await testDb();
});
after(() => t.cleanup());

const newRequestId = () => randomBytes(12).toString('base64url');
const entry = (requestId: string) => ({ queue: 'mail', job_name: 'send-mail', job_id: `delist-challenge-${requestId}`, payload: JSON.stringify({ kind: 'delist-challenge', requestId }) });

test('an entry written with its request commits with it', async () => {
  const id = newRequestId();
  await t.db.transaction().execute(async (trx) => {
    await trx.insertInto('requests').values({ id, type: 'delist', state: 'awaiting_confirmation', email: 'a@example.org', ip: '192.0.2.7' }).execute();
    await trx.insertInto('job_outbox').values(entry(id)).execute();
  });
  const job = await t.db.selectFrom('job_outbox').selectAll().where('job_id', '=', `delist-challenge-${id}`).executeTakeFirstOrThrow();
  assert.deepEqual(job.payload, { kind: 'delist-challenge', requestId: id });
  assert.equal(job.handed_at, null);
  assert.equal(job.done_at, null);
  assert.ok(job.created_at instanceof Date);
  assert.equal(typeof job.id, 'number');
});

test('a rolled-back transaction leaves neither the request nor its entry', async () => {
  const id = newRequestId();
  await assert.rejects(
    t.db.transaction().execute(async (trx) => {
      await trx.insertInto('requests').values({ id, type: 'delist', state: 'awaiting_confirmation', email: 'a@example.org', ip: '192.0.2.8' }).execute();
      await trx.insertInto('job_outbox').values(entry(id)).execute();
      throw new Error('the web process died here');
    }),
    /died here/,
  );
  assert.equal((await t.db.selectFrom('requests').select('id').where('id', '=', id).execute()).length, 0);
  assert.equal((await t.db.selectFrom('job_outbox').select('id').where('job_id', '=', `delist-challenge-${id}`).execute()).length, 0);
});

test('an entry is unique per queue and job id: writing it twice keeps one', async () => {
  const id = newRequestId();
  for (let i = 0; i < 2; i++) {
    await t.db.insertInto('job_outbox').values(entry(id)).onConflict((oc) => oc.columns(['queue', 'job_id']).doNothing()).execute();
  }
  assert.equal((await t.db.selectFrom('job_outbox').select('id').where('job_id', '=', `delist-challenge-${id}`).execute()).length, 1);
  await assert.rejects(t.db.insertInto('job_outbox').values(entry(id)).execute(), /job_outbox_job/);
});

test('a commit wakes a listener on "<schema>.job_outbox", a rollback does not', async () => {
  const listener = new pg.Client(clientConfig(t.options));
  await listener.connect();
  try {
    const received: string[] = [];
    let wake: (() => void) | null = null;
    listener.on('notification', (n) => {
      received.push(n.channel);
      wake?.();
    });
    await listener.query(`LISTEN ${listener.escapeIdentifier(notifyChannel(t.schema, 'job_outbox'))}`);
    const next = () => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no notification within 10 s')), 10_000);
      wake = () => (clearTimeout(timer), resolve());
    });

    // Inside an open transaction nothing is sent yet; on commit one notification for both inserts.
    let notified = next();
    await t.db.transaction().execute(async (trx) => {
      await trx.insertInto('job_outbox').values(entry(newRequestId())).execute();
      await trx.insertInto('job_outbox').values(entry(newRequestId())).execute();
      await listener.query('SELECT 1'); // a round trip on the listener while the writer's transaction is open
      assert.equal(received.length, 0, 'nothing before the commit');
    });
    await notified;
    assert.deepEqual(received, [`${t.schema}.job_outbox`]);

    await t.db.transaction().execute(async (trx) => {
      await trx.insertInto('job_outbox').values(entry(newRequestId())).execute();
      throw new Error('rolled back');
    }).catch(() => {});
    // Notifications arrive in commit order: once this commit's has come, a rollback's would have come before it.
    notified = next();
    await t.db.insertInto('job_outbox').values(entry(newRequestId())).execute();
    await notified;
    assert.equal(received.length, 2, 'the rollback woke nobody');
  } finally {
    await listener.end();
  }
});
