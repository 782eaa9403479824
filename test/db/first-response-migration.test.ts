import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as m0011 from '../../migrations/0011_dashboard_indexes.js';
import { testDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
before(async () => {
  t = await testDb();
});
after(() => t.cleanup());

test('migration 0011 fills first_response_at from the timelines so far: the first staff action or reply, never a note', async () => {
  await m0011.down(t.db);
  const at = (h: number) => new Date(Date.UTC(2026, 0, 1, h));
  const ticket = (id: string) => t.db.insertInto('tickets').values({ id, kind: 'delist-review', subject: 's', reason: 'r', created_at: at(0), due_at: at(24) }).execute();
  await ticket('t-acted');
  await ticket('t-replied');
  await ticket('t-noted');
  await t.db.insertInto('ticket_events').values([
    { ticket_id: 't-acted', at: at(1), actor: 'automation', type: 'system', message: 'opened' },
    { ticket_id: 't-acted', at: at(5), actor: 'a@example.net', type: 'action', message: 'refused' },
    { ticket_id: 't-acted', at: at(3), actor: 'a@example.net', type: 'action', message: 'merged' },
    { ticket_id: 't-replied', at: at(4), actor: 'a@example.net', type: 'action', message: 'approved' },
    { ticket_id: 't-noted', at: at(2), actor: 'a@example.net', type: 'note', message: 'looking' },
  ]).execute();
  await t.db.insertInto('ticket_replies').values({ ticket_id: 't-replied', at: at(2), author: 'a@example.net', template: 'update', body: 'on it' }).execute();
  await m0011.up(t.db);
  const rows = await t.db.selectFrom('tickets').select(['id', 'first_response_at']).orderBy('id').execute();
  assert.deepEqual(rows.map((r) => [r.id, r.first_response_at?.toISOString() ?? null]), [
    ['t-acted', at(3).toISOString()],
    ['t-noted', null],
    ['t-replied', at(2).toISOString()],
  ]);
});
