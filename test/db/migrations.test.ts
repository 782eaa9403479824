import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { migrations } from '../../migrations/index.js';
import { migrateDownToEmpty, migrateToLatest, pendingMigrations } from '../../src/db/migrator.js';
import { testDb, type TestDb } from '../helpers/db.js';

const tablesOf = async (t: TestDb) =>
  (await sql<{ table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = ${t.schema} ORDER BY table_name`.execute(t.db)).rows.map((r) => r.table_name);

const MODEL = [
  'allow_entries', 'api_tokens', 'audit_log', 'blocklist_entries', 'blocklist_exclusions', 'challenges', 'evidence',
  'job_outbox', 'listing_history', 'pool_assignments', 'report_drafts', 'reports', 'request_events', 'requests',
  'restrictions', 'routing_feed', 'routing_state', 'self_delists', 'staff_users', 'tenant_contacts', 'tenant_domains',
  'tenant_feedback_ids', 'tenant_verp_patterns', 'tenants', 'ticket_counts', 'ticket_events', 'ticket_replies', 'ticket_reports', 'tickets',
];

let t: TestDb;
before(async () => {
  t = await testDb({ migrate: false });
});
after(() => t.cleanup());

test('every migration file is in the list the migrator runs, in order', () => {
  const files = readdirSync(new URL('../../migrations/', import.meta.url)).filter((f) => f !== 'index.ts' && f.endsWith('.ts'));
  for (const f of files) assert.match(f, /^\d{4}_[a-z0-9_]+\.ts$/, `${f}: migrations are named NNNN_name.ts`);
  assert.deepEqual(Object.keys(migrations), files.map((f) => f.replace(/\.ts$/, '')).sort());
});

test('the migrations apply to an empty schema, and a second run is a no-op', async () => {
  assert.deepEqual(await tablesOf(t), []);
  assert.deepEqual(await pendingMigrations(t.db), Object.keys(migrations));

  const first = await migrateToLatest(t.db);
  assert.deepEqual(first.map((r) => [r.migrationName, r.status]), Object.keys(migrations).map((m) => [m, 'Success']));
  assert.deepEqual((await tablesOf(t)).filter((n) => !n.startsWith('kysely_')), MODEL);
  assert.deepEqual(await pendingMigrations(t.db), []);

  const second = await migrateToLatest(t.db);
  assert.deepEqual(second, []);
  const routing = await t.db.selectFrom('routing_state').select('version').execute();
  assert.deepEqual(routing, [{ version: 0 }], 'the routing version row exists once, at 0');
});

test('the migrations undo cleanly and apply again', async () => {
  await migrateToLatest(t.db);
  const down = await migrateDownToEmpty(t.db);
  assert.deepEqual(down.map((r) => r.status), Object.keys(migrations).map(() => 'Success'));
  assert.deepEqual((await tablesOf(t)).filter((n) => !n.startsWith('kysely_')), []);
  await migrateToLatest(t.db);
  assert.deepEqual((await tablesOf(t)).filter((n) => !n.startsWith('kysely_')), MODEL);
});

test('the model keeps its invariants: one open case per key, a closed ticket has its time, token hashes are SHA-256 sized, the audit log is append-only', async () => {
  await migrateToLatest(t.db);
  const due = new Date(Date.now() + 3_600_000);
  await t.db.insertInto('tickets').values({ id: 'case-a', kind: 'abuse-case', case_key: 'tenant-1', subject: 's', reason: 'r', due_at: due }).execute();
  // A second open case for the same tenant is refused; ON CONFLICT is how the store resolves the race.
  await assert.rejects(t.db.insertInto('tickets').values({ id: 'case-b', kind: 'abuse-case', case_key: 'tenant-1', subject: 's', reason: 'r', due_at: due }).execute(), /tickets_open_case/);
  const raced = await t.db
    .insertInto('tickets')
    .values({ id: 'case-b', kind: 'abuse-case', case_key: 'tenant-1', subject: 's', reason: 'r', due_at: due })
    .onConflict((oc) => oc.column('case_key').where('kind', '=', 'abuse-case').where('state', '=', 'open').doNothing())
    .returning('id')
    .execute();
  assert.deepEqual(raced, []);
  // Once closed, the tenant's next report opens a new case.
  await t.db.updateTable('tickets').set({ state: 'closed', closed_at: new Date() }).where('id', '=', 'case-a').execute();
  await t.db.insertInto('tickets').values({ id: 'case-b', kind: 'abuse-case', case_key: 'tenant-1', subject: 's', reason: 'r', due_at: due }).execute();
  // A closed ticket needs closed_at, an open one must not have it.
  await assert.rejects(t.db.updateTable('tickets').set({ state: 'closed' }).where('id', '=', 'case-b').execute(), /check constraint/);

  await t.db.insertInto('requests').values({ id: 'r'.repeat(16), type: 'delist', state: 'awaiting_confirmation' }).execute();
  const challenge = { id: 'c1', request_id: 'r'.repeat(16), expires_at: new Date(Date.now() + 60_000) };
  await assert.rejects(t.db.insertInto('challenges').values({ ...challenge, token_hash: Buffer.alloc(31) }).execute(), /check constraint/);
  await t.db.insertInto('challenges').values({ ...challenge, token_hash: Buffer.alloc(32) }).execute();

  await t.db.insertInto('audit_log').values({ actor: 'a', action: 'x', target: 't' }).execute();
  await assert.rejects(t.db.updateTable('audit_log').set({ reason: 'rewritten' }).execute(), /append-only/);
});

test('the routing datasets answer containment look-ups: every listing and exclusion covering an address', async () => {
  await migrateToLatest(t.db);
  const now = new Date();
  await t.db
    .insertInto('blocklist_entries')
    .values(['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3/32', '192.0.2.0/24', '2001:db8::/32'].map((cidr) => ({ cidr, category: 'manual', reason: 'r', source: 'test', listed_at: now })))
    .execute();
  await t.db.insertInto('blocklist_exclusions').values({ cidr: '10.1.2.0/24', reason: 'r', source: 'test', created_at: now, listing_cidr: '10.1.0.0/16' }).execute();
  const covering = await t.db
    .selectFrom('blocklist_entries')
    .select(sql<string>`cidr::inet`.as('cidr'))
    .where(sql<boolean>`cidr >>= ${'10.1.2.3'}::inet`)
    .orderBy(sql`masklen(cidr)`, 'desc')
    .execute();
  assert.deepEqual(covering.map((r) => r.cidr), ['10.1.2.3', '10.1.0.0/16', '10.0.0.0/8'], 'most specific first, a host without /32');
  const excluded = await t.db.selectFrom('blocklist_exclusions').select('listing_cidr').where(sql<boolean>`cidr >>= ${'10.1.2.3'}::inet`).execute();
  assert.deepEqual(excluded, [{ listing_cidr: '10.1.0.0/16' }]);
  const v6 = await t.db.selectFrom('blocklist_entries').select('cidr').where(sql<boolean>`cidr >>= ${'2001:db8:25::1'}::inet`).execute();
  assert.deepEqual(v6, [{ cidr: '2001:db8::/32' }]);
  // cidr refuses host bits: a listing's key is always a network.
  await assert.rejects(t.db.insertInto('blocklist_entries').values({ cidr: '10.1.2.3/24', category: 'manual', reason: 'r', source: 'test', listed_at: now }).execute(), /invalid cidr value/);
});

test("the queue's per-kind counts follow every ticket change", async () => {
  await migrateToLatest(t.db);
  await t.db.deleteFrom('tickets').execute();
  const counts = async () =>
    Object.fromEntries((await t.db.selectFrom('ticket_counts').select(['state', 'kind', 'n']).where('n', '>', 0).orderBy('state').orderBy('kind').execute()).map((r) => [`${r.state} ${r.kind}`, r.n]));
  const due = new Date(Date.now() + 3_600_000);
  const ticket = (id: string, kind: 'delist-review' | 'abuse-case') => ({ id, kind, case_key: id, subject: 's', reason: 'r', due_at: due });
  await t.db.insertInto('tickets').values([ticket('d1', 'delist-review'), ticket('d2', 'delist-review'), ticket('a1', 'abuse-case')]).execute();
  assert.deepEqual(await counts(), { 'open abuse-case': 1, 'open delist-review': 2 });
  await t.db.updateTable('tickets').set({ state: 'closed', closed_at: new Date() }).where('id', '=', 'd1').execute();
  await t.db.updateTable('tickets').set({ severity: 'critical', state: 'open' }).where('id', '=', 'a1').execute(); // state unchanged: no count moves
  assert.deepEqual(await counts(), { 'closed delist-review': 1, 'open abuse-case': 1, 'open delist-review': 1 });
  await t.db.deleteFrom('tickets').where('id', '=', 'd2').execute();
  assert.deepEqual(await counts(), { 'closed delist-review': 1, 'open abuse-case': 1 });
  // A rolled-back change leaves the counts as they were.
  await t.db.transaction().execute(async (trx) => {
    await trx.insertInto('tickets').values(ticket('d3', 'delist-review')).execute();
    throw new Error('rollback');
  }).catch(() => {});
  assert.deepEqual(await counts(), { 'closed delist-review': 1, 'open abuse-case': 1 });
  // One statement over many rows (a bulk close, an upsert) moves each count once, by the net change.
  await t.db.insertInto('tickets').values([ticket('d4', 'delist-review'), ticket('d5', 'delist-review'), ticket('a2', 'abuse-case')]).execute();
  await t.db.updateTable('tickets').set({ state: 'closed', closed_at: new Date() }).where('state', '=', 'open').execute();
  assert.deepEqual(await counts(), { 'closed abuse-case': 2, 'closed delist-review': 3 });
  await sql`TRUNCATE tickets CASCADE`.execute(t.db);
  assert.deepEqual(await counts(), {});
  const exact = await t.db.selectFrom('tickets').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  assert.equal(Number(exact.n), 0);
});

// Kysely's migrator introspects every table of the database; with a schema per test file, other files create and
// drop schemas meanwhile, which made a migration fail now and then ("schema pm_t_… does not exist", naming another
// file's schema). migrateToLatest tries such a run again (it is one transaction, so nothing is half-done).
test('migrates while other schemas of the same database are created, migrated and dropped', async () => {
  const churn = async () => {
    for (let i = 0; i < 6; i++) {
      const other = await testDb();
      await other.cleanup();
    }
  };
  const mine = await Promise.all([testDb({ migrate: false }), testDb({ migrate: false })]);
  try {
    const results = await Promise.all([churn(), churn(), ...mine.map(async (t) => { for (let i = 0; i < 3; i++) { await migrateToLatest(t.db); await migrateDownToEmpty(t.db); } return migrateToLatest(t.db); })]);
    for (const t of mine) assert.deepEqual(await pendingMigrations(t.db), []);
    assert.ok(results.length === 4);
  } finally {
    for (const t of mine) await t.cleanup();
  }
});
