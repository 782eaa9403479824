/**
 * The routing publisher on PostgreSQL (issue 14, item 3): one transaction per change (datasets, version, feed row),
 * NOTIFY only at commit, the snapshot read at one version and cached per version, the feed trimmed by policy, and
 * the routing records surviving an emptied Redis.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { sql } from 'kysely';
import { clientConfig, notifyChannel } from '../../src/db/connection.js';
import { addListing, removeListing } from '../../src/features/blocklist/service.js';
import { allow } from '../../src/features/lists/service.js';
import { assignPool } from '../../src/features/pools/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { parseAddress } from '../../src/domain/ip.js';
import { deleteByPattern } from '../../src/redis/connection.js';
import type { RoutingChange } from '../../src/domain/datasets.js';
import { DATASET_TABLES } from '../../src/stores/dataset-tables.js';
import { RoutingStore, type Snapshot } from '../../src/stores/routing.js';
import type { StaffUser } from '../../src/stores/staff.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { testDatabaseUrl } from '../helpers/db.js';

const listing = (cidr: string) => ({ dataset: 'blocklist' as const, op: 'upsert' as const, key: cidr, value: { cidr, category: 'manual', reason: 'test', source: 'test', listedAt: new Date().toISOString(), expiresAt: null } });

describe('routing publisher (PostgreSQL)', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext({ policy: (p) => ({ ...p, routing: { ...p.routing, feedMaxLength: 50 } }) });
  });
  after(() => ctx.cleanup());

  it('applies a change, its version and its feed row together, or nothing at all', async () => {
    const version = await ctx.routing.publish([listing('192.0.2.1')]);
    await assert.rejects(ctx.routing.publish([listing('192.0.2.2'), { dataset: 'blocklist', op: 'remove', key: '192.0.2.3/24' }]), /invalid key/);
    assert.equal(await ctx.routing.version(), version, 'the failed change took no version');
    assert.equal(await ctx.blocklist.getListing('192.0.2.2'), null, 'and left no half of itself');
    const page = await ctx.routing.feed(version - 1);
    assert.ok(!page.gone);
    assert.deepEqual(page.entries.map((e) => e.version), [version]);
  });

  it('gives concurrent publishers consecutive versions, each with its own feed row', async () => {
    const start = await ctx.routing.version();
    const versions = await Promise.all(Array.from({ length: 20 }, (_, i) => ctx.routing.publish([listing(`198.51.100.${i + 1}`)])));
    assert.deepEqual([...versions].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => start + i + 1));
    const page = await ctx.routing.feed(start);
    assert.ok(!page.gone);
    assert.deepEqual(page.entries.map((e) => e.version), Array.from({ length: 20 }, (_, i) => start + i + 1));
    for (const e of page.entries) assert.equal(e.changes.length, 1);
  });

  it('wakes a listener on the feed channel at commit, never before and never on a rollback', async () => {
    const listener = new pg.Client(clientConfig({ url: await testDatabaseUrl(), searchPath: ctx.schema }));
    await listener.connect();
    const heard: number[] = [];
    listener.on('notification', (n) => n.channel === notifyChannel(ctx.schema, 'routing_feed') && heard.push(Date.now()));
    await listener.query(`LISTEN ${listener.escapeIdentifier(notifyChannel(ctx.schema, 'routing_feed'))}`);
    try {
      await assert.rejects(
        ctx.db.transaction().execute(async (trx) => {
          await ctx.routing.publishIn(trx, [listing('203.0.113.7')]);
          throw new Error('rolled back');
        }),
        /rolled back/,
      );
      let committed = 0;
      await ctx.db.transaction().execute(async (trx) => {
        await ctx.routing.publishIn(trx, [listing('203.0.113.8')]);
        await new Promise((r) => setTimeout(r, 150)); // a NOTIFY sent before commit would arrive in this time
        assert.equal(heard.length, 0, 'nothing heard before the commit');
        committed = Date.now();
      });
      for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(heard.length, 1, 'one notification, for the committed change only');
      assert.ok(heard[0]! >= committed);
    } finally {
      await listener.end();
    }
  });

  it('reads each snapshot at one version, and builds it once per version', async () => {
    const a = await ctx.routing.snapshot();
    assert.equal(await ctx.routing.snapshot(), a, 'the same version is served from the cache');
    // Publishers and snapshot readers at once: every snapshot has exactly the entries of its version.
    const base = a.version - a.blocklist.length;
    const reads: Array<Promise<{ version: number; blocklist: unknown[] }>> = [];
    const writes: Array<Promise<number>> = [];
    for (let i = 0; i < 15; i++) {
      writes.push(ctx.routing.publish([listing(`10.9.${i}.0/24`)]));
      reads.push(ctx.routing.snapshot());
    }
    await Promise.all(writes);
    for (const snap of await Promise.all(reads)) assert.equal(snap.blocklist.length, snap.version - base, `snapshot of version ${snap.version}`);
    const latest = await ctx.routing.snapshot();
    assert.notEqual(latest, a);
    assert.equal(latest.version, await ctx.routing.version());
  });

  it('serves the address lists as the server writes them: byte for byte the JSON.stringify text of the entries', async () => {
    const t = testContext();
    try {
      const odd = ['a "quote", a \\ backslash and a literal \\u0001', 'tab\there, new\nline, \u0001\u001f\u007f\b\f\r', 'é 한국어 😀 \u2028 </script>'];
      // Around every IPv6 form PostgreSQL writes with a dotted IPv4 tail (the first 80 bits zero).
      const cidrs = ['192.0.2.1', '198.51.100.0/24', '128.0.0.0/1', '2001:db8::/32', '2001:db8::1', '::102:304', '::100:0/104', '::1:2', '::2', '::/0', '::/80', '1::ffff:102:304', '::fffe:102:304'];
      const listedAt = '2024-05-01T10:00:00.000Z';
      const changes: RoutingChange[] = cidrs.map((cidr, i) => ({
        dataset: 'blocklist',
        op: 'upsert',
        key: cidr,
        value: { cidr, category: i % 2 ? 'manual' : odd[i % 3]!, reason: odd[(i + 1) % 3]!, source: odd[(i + 2) % 3]!, ...(i % 3 ? { note: odd[i % 3]! } : {}), listedAt, expiresAt: i % 2 ? null : '2999-12-31T23:59:59.999Z' },
      }));
      for (const [i, cidr] of ['192.0.2.77', '::102:305', '2001:db8::25'].entries()) {
        changes.push({ dataset: 'exclusions', op: 'upsert', key: cidr, value: { cidr, reason: odd[i]!, source: 'delist', createdAt: listedAt, expiresAt: i ? null : '2999-01-01T00:00:00.000Z' } });
      }
      changes.push({ dataset: 'assignments', op: 'upsert', key: 'tenant:acme', value: { kind: 'tenant', key: 'acme', pool: 'relay', reason: odd[0]!, source: 'test', assignedAt: listedAt, expiresAt: null } });
      await t.routing.publish(changes);
      // Rows the publisher never writes but the columns can hold: IPv4-mapped networks (the app reads them as IPv4),
      // times with microseconds (cut to milliseconds) or with no fraction at all.
      await sql`INSERT INTO blocklist_entries (cidr, category, reason, source, listed_at) VALUES
                  ('::ffff:1.2.3.4', 'manual', 'mapped', 'sql', now()), ('::ffff:0.0.0.0/96', 'manual', 'mapped', 'sql', now()), ('::ffff:10.1.0.0/112', 'manual', 'mapped', 'sql', now())`.execute(t.db);
      await sql`UPDATE blocklist_entries SET listed_at = '2024-05-01 10:00:00.123456+00', expires_at = '2030-01-02 03:04:05+00' WHERE cidr = '192.0.2.1'`.execute(t.db);

      const text = (await t.routing.snapshotBody()).bytes.toString('utf8');
      const served = JSON.parse(text) as Snapshot;
      assert.deepEqual(served.blocklist.map((e) => e.cidr).sort(), [...cidrs, '1.2.3.4', '0.0.0.0/0', '10.1.0.0/16'].sort(), "every network in the app's own canonical text");
      const first = served.blocklist.find((e) => e.cidr === '192.0.2.1')!;
      assert.deepEqual([first.listedAt, first.expiresAt], ['2024-05-01T10:00:00.123Z', '2030-01-02T03:04:05.000Z']);
      // The same rows read through the row path (select + fromRow, as one entry is read), put in the served order.
      const rowPath = async (d: 'blocklist' | 'exclusions') => {
        const table = DATASET_TABLES[d];
        const { rows } = await sql<Record<string, unknown>>`SELECT ${table.select} FROM ${sql.table(table.table)}`.execute(t.db);
        return new Map(rows.map((r) => table.fromRow(r)).map((e) => [e.cidr, e]));
      };
      const [listings, exclusions] = [await rowPath('blocklist'), await rowPath('exclusions')];
      const expected = { ...served, blocklist: served.blocklist.map((e) => listings.get(e.cidr)), exclusions: served.exclusions.map((x) => exclusions.get(x.cidr)) };
      assert.equal(listings.size + exclusions.size, cidrs.length + 3 + 3);
      assert.equal(text, JSON.stringify(expected));
      assert.equal((await t.routing.snapshot()).assignments[0]?.reason, odd[0]);
    } finally {
      await t.cleanup();
    }
  });

  it('reads a long list range by range into the same bytes as in one go, empty ranges included', async () => {
    const t = testContext();
    try {
      await t.routing.publish([listing('192.0.2.1')]);
      await sql`INSERT INTO blocklist_entries (cidr, category, reason, source, note, listed_at, expires_at)
                SELECT format('10.%s.%s.0/24', i / 256, i % 256)::cidr, 'manual', 'r' || i, 'test', CASE WHEN i % 7 = 0 THEN 'n' END, now(), NULL
                FROM generate_series(1, 3000) AS i`.execute(t.db);
      await sql`INSERT INTO blocklist_exclusions (cidr, reason, source, created_at) SELECT format('11.0.%s.%s', i / 256, i % 256)::cidr, 'x', 'test', now() FROM generate_series(1, 500) AS i`.execute(t.db);
      await sql`DELETE FROM blocklist_entries WHERE cidr << '10.2.0.0/16' OR cidr << '10.9.0.0/16'`.execute(t.db); // whole pages left empty
      await t.routing.publish([listing('192.0.2.2')]);
      const whole = await new RoutingStore(t.db, 50, 1_000_000).snapshotBody();
      const ranges = await new RoutingStore(t.db, 50, 1).snapshotBody();
      const pages = await sql<{ n: string }>`SELECT pg_relation_size('blocklist_entries') / 8192 AS n`.execute(t.db);
      assert.ok(Number(pages.rows[0]!.n) > 20, 'the list spans many pages');
      const withoutTime = (b: Buffer) => b.toString('utf8').replace(/"generatedAt":"[^"]*"/, '');
      assert.equal(withoutTime(ranges.bytes), withoutTime(whole.bytes));
      const snap = JSON.parse(whole.bytes.toString('utf8')) as Snapshot;
      assert.equal(snap.blocklist.length, 2 + 3000 - 2 * 256);
      assert.equal(snap.exclusions.length, 500);
      assert.equal(new Set(snap.blocklist.map((e) => e.cidr)).size, snap.blocklist.length);
    } finally {
      await t.cleanup();
    }
  });

  it('reads a snapshot range by range on its two transactions at one version while publishers change the list', async () => {
    const t = testContext();
    try {
      await sql`INSERT INTO blocklist_entries (cidr, category, reason, source, listed_at)
                SELECT format('10.%s.%s.0/24', i / 256, i % 256)::cidr, 'manual', 'r' || i, 'test', now() FROM generate_series(1, 2000) AS i`.execute(t.db);
      const v0 = await t.routing.version();
      // Each build reads one page a query, its ranges alternating between its two transactions, while each publish
      // adds an entry (on the last pages) and removes one from the first pages in one version: a range read outside
      // the build's snapshot would show one half of a publish without the other.
      const builds: Array<Promise<Snapshot>> = [];
      const writes: Array<Promise<number>> = [];
      for (let i = 1; i <= 8; i++) {
        writes.push(t.routing.publish([listing(`192.0.2.${i}`), { dataset: 'blocklist', op: 'remove', key: `10.0.${i}.0/24` }]));
        builds.push(new RoutingStore(t.db, 50, 1).snapshotBody().then((b) => JSON.parse(b.bytes.toString('utf8')) as Snapshot));
      }
      await Promise.all(writes);
      const versions = new Set<number>();
      for (const snap of await Promise.all(builds)) {
        versions.add(snap.version);
        const cidrs = new Set(snap.blocklist.map((e) => e.cidr));
        assert.equal(cidrs.size, snap.blocklist.length, `no entry twice at version ${snap.version}`);
        assert.equal(snap.blocklist.length, 2000, `each publish adds one and removes one (version ${snap.version})`);
        let added = 0;
        for (let i = 1; i <= 8; i++) {
          assert.equal(cidrs.has(`192.0.2.${i}`), !cidrs.has(`10.0.${i}.0/24`), `publish ${i} whole or not at all at version ${snap.version}`);
          if (cidrs.has(`192.0.2.${i}`)) added++;
        }
        assert.equal(added, snap.version - v0, `the publishes up to version ${snap.version}, no more`);
      }
      assert.ok(versions.size > 1, 'the builds read several versions');
    } finally {
      await t.cleanup();
    }
  });

  it('trims the feed to policy routing.feedMaxLength; a version behind the trim is gone', async () => {
    const small = testContext({ policy: (p) => ({ ...p, routing: { ...p.routing, feedMaxLength: 3 } }) });
    try {
      for (let i = 1; i <= 5; i++) await small.routing.publish([listing(`192.0.2.${i}`)]);
      const kept = await small.routing.feed(2);
      assert.ok(!kept.gone);
      assert.deepEqual(kept.entries.map((e) => e.version), [3, 4, 5]);
      assert.deepEqual(await small.routing.feed(1), { gone: true, version: 5 });
      assert.equal((await small.routing.recent(10)).length, 3);
    } finally {
      await small.cleanup();
    }
  });

  it('keeps every listing, exclusion, assignment, restriction, allow entry, feed entry and history when Redis is emptied mid-run', async () => {
    const staff: StaffUser = { email: 'admin@example.net', role: 'admin', createdAt: new Date().toISOString(), disabled: false, sessionVersion: 1 };
    const from = await ctx.routing.version();
    await addListing(ctx, { target: '100.64.0.0/24', category: 'manual', expires: 'never', source: 'test', by: 'cli:flush' });
    await removeListing(ctx, '100.64.0.9', 'cli:flush', 'a customer asked');
    await assignPool(ctx, { kind: 'tenant', key: 'flush-co', pool: 'high-risk', reason: 'before the flush', source: 'test', by: 'cli:flush' });
    await ctx.blocklist.recordSelfDelistIn(ctx.db, '100.64.0.10', 'flushreq-0000001', new Date());

    assert.ok((await deleteByPattern(ctx.redis, ctx.keys.all)) > 0, 'the prefix held keys (audit, jobs) before the flush');

    await restrictTenant(ctx, 'flush-co', 'after the flush', 'cli:flush');
    await allow(ctx, staff, { target: '203.0.113.250', reason: 'a partner relay' });
    await addListing(ctx, { target: '100.66.0.1', category: 'manual', expires: 'never', source: 'test', by: 'cli:flush' });
    // These changes and their audit rows are all in PostgreSQL now: the second flush may find nothing left in Redis.
    await deleteByPattern(ctx.redis, ctx.keys.all);

    const snap = await ctx.routing.snapshot();
    assert.ok(snap.blocklist.some((e) => e.cidr === '100.64.0.0/24'));
    assert.ok(snap.blocklist.some((e) => e.cidr === '100.66.0.1'));
    assert.ok(snap.exclusions.some((e) => e.cidr === '100.64.0.9'));
    assert.deepEqual(snap.assignments.filter((a) => a.key === 'flush-co').map((a) => a.pool), ['high-risk']);
    assert.deepEqual(snap.restrictions.filter((r) => r.tenant === 'flush-co').map((r) => r.state), ['blocked']);
    assert.deepEqual(snap.allowlist.filter((a) => a.cidr === '203.0.113.250').map((a) => a.addedBy), ['admin@example.net']);
    const page = await ctx.routing.feed(from);
    assert.ok(!page.gone);
    assert.equal(page.entries.length, 6);
    assert.equal(await ctx.blocklist.selfDelistsEver('100.64.0.10'), 1);
    const history = await ctx.blocklist.history('100.64.0.0/24');
    assert.deepEqual(history.map((h) => [h.action, h.by]), [['listed', 'cli:flush'], ['excluded', 'cli:flush']]);
    assert.match(history[1]!.detail, /a customer asked/);
    assert.equal((await ctx.blocklist.lookup(parseAddress('100.64.0.9'))).listed, false);
  });

  it('keeps the whole history of a network: each listing and each removal, with who and why', async () => {
    await addListing(ctx, { target: '100.70.0.1', category: 'manual', expires: 'never', source: 'test', by: 'alice' });
    await removeListing(ctx, '100.70.0.1', 'bob', 'false positive');
    await addListing(ctx, { target: '100.70.0.1', category: 'spam-source', expires: '7d', source: 'test', by: 'carol' });
    const history = await ctx.blocklist.history('100.70.0.1');
    assert.deepEqual(history.map((h) => [h.action, h.by]), [['listed', 'alice'], ['removed', 'bob'], ['listed', 'carol']]);
    assert.match(history[1]!.detail, /false positive/);
    assert.match(history[2]!.detail, /spam-source until/);
  });
});
