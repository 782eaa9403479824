import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { clientConfig, notifyChannel } from '../../src/db/connection.js';
import { testDb, type TestDb } from '../helpers/db.js';

/** Each test file works in a schema of its own: two schemas in one database never see each other's rows. */
let a: TestDb;
let b: TestDb;
before(async () => {
  [a, b] = await Promise.all([testDb(), testDb()]);
});
after(async () => {
  await Promise.all([a?.cleanup(), b?.cleanup()]);
});

test('each test database works in its own schema', async () => {
  assert.notEqual(a.schema, b.schema);
  const current = async (t: TestDb) => (await sql<{ s: string }>`SELECT current_schema() AS s`.execute(t.db)).rows[0]!.s;
  assert.equal(await current(a), a.schema);
  assert.equal(await current(b), b.schema);
});

test('rows written in one schema are invisible in the other', async () => {
  await a.db.insertInto('tenants').values({ id: 'acme', name: 'in a' }).execute();
  await b.db.insertInto('tenants').values({ id: 'acme', name: 'in b' }).execute(); // same key: no conflict across schemas
  await a.db.insertInto('routing_feed').values({ version: 1, changes: '[]' }).execute();
  assert.deepEqual(await a.db.selectFrom('tenants').select(['id', 'name']).execute(), [{ id: 'acme', name: 'in a' }]);
  assert.deepEqual(await b.db.selectFrom('tenants').select(['id', 'name']).execute(), [{ id: 'acme', name: 'in b' }]);
  assert.deepEqual(await b.db.selectFrom('routing_feed').select('version').execute(), []);
  await b.db.deleteFrom('tenants').execute();
  assert.equal((await a.db.selectFrom('tenants').select('id').execute()).length, 1, "b's delete did not reach a");
});

test("a listener on one schema's outbox is not woken by another schema's writes", async () => {
  const listener = new pg.Client(clientConfig(b.options));
  await listener.connect();
  try {
    const channels: string[] = [];
    let wake!: () => void;
    const woken = new Promise<void>((r) => (wake = r));
    listener.on('notification', (n) => {
      channels.push(n.channel);
      wake();
    });
    await listener.query(`LISTEN ${listener.escapeIdentifier(notifyChannel(b.schema, 'job_outbox'))}`);
    const entry = (id: string) => ({ queue: 'mail', job_name: 'send-mail', job_id: id, payload: '{}' });
    await a.db.insertInto('job_outbox').values(entry('in-a')).execute();
    await b.db.insertInto('job_outbox').values(entry('in-b')).execute();
    await woken;
    await listener.query('SELECT 1');
    assert.deepEqual(channels, [`${b.schema}.job_outbox`], "only b's commit woke b's listener");
  } finally {
    await listener.end();
  }
});
