import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { deleteByPattern } from '../../src/redis/connection.js';
import { TokenNameTakenError } from '../../src/stores/api-tokens.js';
import { SORTS, TICKET_KINDS, type Sort, type Ticket, type TicketKind } from '../../src/stores/tickets.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { insertBareReport } from '../helpers/db.js';
import { csrfOf } from '../helpers/forms.js';
import { PASSWORD, signedIn } from '../helpers/staff.js';

describe('the desk in PostgreSQL: the queue, tickets, audit log, staff users and API tokens', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = testContext();
  });
  after(() => ctx.cleanup());

  /** 60 tickets: every kind, both severities, distinct times, some closed. */
  async function seed(): Promise<Ticket[]> {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const made: Ticket[] = [];
    for (let i = 0; i < 60; i++) {
      const kind: TicketKind = TICKET_KINDS[i % 3]!;
      made.push(
        await ctx.tickets.openIn(
          ctx.db,
          {
            id: `q-${String(i).padStart(2, '0')}`,
            kind,
            subject: `ticket ${i}`,
            reason: 'seeded',
            ...(kind === 'abuse-case' && { caseKey: `key-${i}` }),
            ip: `192.0.2.${i}`,
            tenant: `tenant-${i % 4}`,
            email: `Person${i % 5}@Example.org`,
            category: i % 2 ? 'spam-source' : 'botnet',
            ...(i % 7 === 0 && { severity: 'critical' as const }),
          },
          new Date(t0 + ((i * 37) % 60) * 60_000),
        ),
      );
    }
    for (const id of ['q-03', 'q-04', 'q-05']) await ctx.tickets.closeIn(ctx.db, id, 'seeded closed');
    return made;
  }

  const order = (sort: Sort) => (a: Ticket, b: Ticket) => {
    const key = (t: Ticket): Array<number | string> => (sort === 'age' ? [Date.parse(t.createdAt), t.id] : sort === 'sla' ? [Date.parse(t.slaDueAt), t.id] : [t.severity === 'critical' ? 0 : 1, Date.parse(t.slaDueAt), t.id]);
    const [x, y] = [key(a), key(b)];
    for (let i = 0; i < x.length; i++) if (x[i]! !== y[i]!) return x[i]! < y[i]! ? -1 : 1;
    return 0;
  };

  it('pages the queue in each order, for all kinds and each kind, with every ticket once', async () => {
    const all = await seed();
    const open = all.filter((t) => !['q-03', 'q-04', 'q-05'].includes(t.id));
    for (const sort of SORTS) {
      for (const kind of [undefined, ...TICKET_KINDS]) {
        const seen: Ticket[] = [];
        let after: string | undefined;
        for (let pages = 0; pages < 20; pages++) {
          const page = await ctx.tickets.query({ state: 'open', ...(kind && { kind }), sort, filters: {}, ...(after && { after }), limit: 7 });
          seen.push(...page.tickets);
          if (!page.next) break;
          after = page.next;
        }
        const expected = open.filter((t) => !kind || t.kind === kind).sort(order(sort));
        assert.deepEqual(seen.map((t) => t.id), expected.map((t) => t.id), `${sort} ${kind ?? 'all'}`);
      }
    }
    const closed = await ctx.tickets.query({ state: 'closed', sort: 'age', filters: {}, limit: 50 });
    assert.deepEqual(closed.tickets.map((t) => t.id).sort(), ['q-03', 'q-04', 'q-05']);
  });

  it('filters by tenant, category, email (any case) and ip (an address or a range); a hostile filter or cursor gives a page, not an error', async () => {
    const q = (filters: Record<string, string>, after?: string) => ctx.tickets.query({ state: 'open', sort: 'sla', filters, limit: 50, ...(after && { after }) });
    assert.ok((await q({ tenant: 'tenant-1' })).tickets.every((t) => t.tenant === 'tenant-1'));
    assert.equal((await q({ tenant: 'tenant-1' })).tickets.length, 15 - 1, 'q-05 is closed');
    assert.equal((await q({ email: 'PERSON2@example.ORG' })).tickets.length, 12);
    assert.deepEqual((await q({ ip: '192.0.2.42' })).tickets.map((t) => t.id), ['q-42']);
    assert.equal((await q({ ip: '192.0.2.0/28' })).tickets.length, 16 - 3);
    assert.equal((await q({ ip: '192.0.2.0/28', category: 'botnet', tenant: 'tenant-0' })).tickets.length, 3, 'q-00, q-08, q-12 (q-04 is closed)');
    assert.deepEqual((await q({ ip: "1' OR 1=1 --" })).tickets, []);
    assert.deepEqual((await q({ ip: '192.0.2.1/24' })).tickets, [], 'host bits set: no match, no error');
    for (const cursor of ['x', '1|', "9999|'; DROP TABLE tickets; --", '2|1|a', '|'.repeat(50)]) assert.ok(Array.isArray((await q({}, cursor)).tickets));
  });

  it('keeps the tab counts in step with every insert and bulk close (ticket_counts, by its trigger)', async () => {
    const count = async (state: 'open' | 'closed') => {
      const { rows } = await sql<{ kind: TicketKind; n: string }>`SELECT kind, count(*) AS n FROM tickets WHERE state = ${state} GROUP BY kind`.execute(ctx.db);
      const actual = Object.fromEntries(TICKET_KINDS.map((k) => [k, Number(rows.find((r) => r.kind === k)?.n ?? 0)]));
      return { all: Object.values(actual).reduce((a, b) => a + b, 0), ...actual };
    };
    assert.deepEqual(await ctx.tickets.counts('open'), await count('open'));
    await ctx.db.updateTable('tickets').set({ state: 'closed', closed_at: new Date() }).where('tenant', '=', 'tenant-2').where('state', '=', 'open').execute();
    assert.deepEqual(await ctx.tickets.counts('open'), await count('open'));
    assert.deepEqual(await ctx.tickets.counts('closed'), await count('closed'));
  });

  it('opens one abuse case per case key when reports race, and a new one after it is closed', async () => {
    const cases = await Promise.all(Array.from({ length: 10 }, (_, i) => ctx.tickets.caseFor('tenant-race', `req-${i}`, { tenant: 'tenant-race' })));
    assert.equal(new Set(cases.map((c) => c.id)).size, 1);
    await insertBareReport(ctx.db, 'report-aaaaaaaaa');
    await ctx.tickets.attachReport(cases[0]!.id, 'report-aaaaaaaaa');
    assert.equal(await ctx.tickets.attachReport(cases[0]!.id, 'report-aaaaaaaaa'), 1, 'attaching twice is attaching once');
    await ctx.tickets.closeIn(ctx.db, cases[0]!.id, 'done');
    assert.equal(await ctx.tickets.closeIn(ctx.db, cases[0]!.id, 'again'), null, 'closing is conditional');
    const next = await ctx.tickets.caseFor('tenant-race', 'req-new');
    assert.notEqual(next.id, cases[0]!.id);
    assert.equal(next.state, 'open');
  });

  it('keeps the audit log append-only', async () => {
    await ctx.audit.append({ at: new Date().toISOString(), actor: 'test', action: 'test.append', target: 'x', reason: 'r', before: { a: 1 }, after: null });
    const [entry] = await ctx.audit.page({ action: 'test.append' }, 1);
    assert.deepEqual(entry?.before, { a: 1 });
    await assert.rejects(sql`UPDATE audit_log SET reason = 'rewritten'`.execute(ctx.db), /append-only/);
  });

  it('keeps a revoked token (who, when) and lets its name be issued again; one live token per name', async () => {
    const first = await ctx.apiTokens.create('engine', new Date(), 'cli:test');
    await assert.rejects(ctx.apiTokens.create('engine'), TokenNameTakenError);
    assert.deepEqual(await ctx.apiTokens.revokeIn(ctx.db, 'engine', 'cli:ops').then((r) => r.map((t) => t.name)), ['engine']);
    assert.equal(await ctx.apiTokens.verify(first), null, 'a revoked token stops working');
    const second = await ctx.apiTokens.create('engine');
    assert.equal((await ctx.apiTokens.verify(second))?.name, 'engine');
    const rows = await ctx.db.selectFrom('api_tokens').select(['name', 'revoked_by', 'created_by']).where('name', '=', 'engine').orderBy('id').execute();
    assert.deepEqual(rows, [{ name: 'engine', revoked_by: 'cli:ops', created_by: 'cli:test' }, { name: 'engine', revoked_by: null, created_by: '' }]);
  });
});

describe('the queue is served by its indexes (plans over 30,000 tickets)', () => {
  let ctx: TestContext;
  before(async () => {
    ctx = testContext();
    await sql`
      INSERT INTO tickets (id, kind, severity, subject, reason, case_key, ip, tenant, email, category, state, closed_at, created_at, updated_at, due_at)
      SELECT 'p-' || i, (ARRAY['delist-review', 'abuse-case', 'tenant-unblock'])[i % 3 + 1], CASE WHEN i % 50 = 0 THEN 'critical' ELSE 'normal' END,
             's', 'r', CASE WHEN i % 3 = 1 THEN 'key-' || i END, ('10.' || (i >> 16) || '.' || ((i >> 8) & 255) || '.' || (i & 255))::inet,
             'tenant-' || (i % 500), 'user' || (i % 2000) || '@example.org', 'cat-' || (i % 40),
             CASE WHEN i % 10 = 0 THEN 'closed' ELSE 'open' END, CASE WHEN i % 10 = 0 THEN now() END,
             now() - make_interval(secs => i), now(), now() + make_interval(secs => (i * 7919) % 100000)
        FROM generate_series(1, 30000) AS i`.execute(ctx.db);
    await sql`ANALYZE tickets`.execute(ctx.db);
  });
  after(() => ctx.cleanup());

  /** Every node of a plan (EXPLAIN FORMAT JSON), flattened. */
  const nodes = (plan: unknown): Array<Record<string, unknown>> => {
    const walk = (n: Record<string, unknown>): Array<Record<string, unknown>> => [n, ...((n.Plans as Array<Record<string, unknown>> | undefined) ?? []).flatMap(walk)];
    return walk((plan as Array<{ Plan: Record<string, unknown> }>)[0]!.Plan);
  };

  it('reads an unfiltered page, first or after a cursor, in every order and kind, as an index range scan with no sort', async () => {
    for (const sort of SORTS) {
      for (const kind of [undefined, ...TICKET_KINDS]) {
        const first = await ctx.tickets.query({ state: 'open', ...(kind && { kind }), sort, filters: {}, limit: 50 });
        for (const after of [undefined, first.next!]) {
          const plan = nodes(await ctx.tickets.plan({ state: 'open', ...(kind && { kind }), sort, filters: {}, limit: 50, ...(after && { after }) }));
          const types = plan.map((n) => n['Node Type']);
          assert.ok(!types.includes('Seq Scan') && !types.includes('Sort') && !types.includes('Incremental Sort'), `${sort} ${kind ?? 'all'} ${after ? 'after' : 'first'}: ${types.join(' > ')}`);
          assert.ok(plan.some((n) => String(n['Index Name'] ?? '').startsWith('tickets_by_')), `${sort} ${kind ?? 'all'}: ${JSON.stringify(plan.map((n) => n['Index Name']))}`);
        }
      }
    }
  });

  it('reads a filtered page from the filter\'s index, never the whole table', async () => {
    for (const filters of [{ tenant: 'tenant-42' }, { email: 'User7@example.org' }, { ip: '10.0.1.0/24' }, { category: 'cat-3' }]) {
      const plan = nodes(await ctx.tickets.plan({ state: 'open', sort: 'sla', filters, limit: 50 }));
      assert.ok(!plan.some((n) => n['Node Type'] === 'Seq Scan'), `${JSON.stringify(filters)}: ${plan.map((n) => n['Node Type']).join(' > ')}`);
    }
  });
});

describe('a Redis emptied mid-run loses no ticket, note, reply, audit entry, staff user or API token', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext();
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('still has every desk record after the test prefix is flushed; only staff sessions are gone (people sign in again)', async () => {
    const token = await ctx.apiTokens.create('prometheus');
    const ticket = await ctx.tickets.openIn(ctx.db, { id: 't-flush', kind: 'delist-review', subject: 'Delist review for 203.0.113.9', reason: 'needs a look', ip: '203.0.113.9', email: 'who@example.org' });
    const kase = await ctx.tickets.caseFor('tenant-flush', 'rq-flush', { tenant: 'tenant-flush' });
    await insertBareReport(ctx.db, 'rq-flush-aaaaaaa', 'tenant-flush');
    await ctx.tickets.attachReport(kase.id, 'rq-flush-aaaaaaa');
    const replyId = await ctx.tickets.addReplyIn(ctx.db, ticket.id, { at: new Date().toISOString(), author: 'triager@example.net', template: 'need-info', body: 'Which host sends from this address?' });

    const { agent, csrf } = await signedIn(ctx, app, 'triager@example.net', 'triager');
    await agent.post(`/staff/tickets/${ticket.id}/note`).type('form').send({ _csrf: csrf, note: 'checked the logs' }).expect(303);

    assert.ok((await deleteByPattern(ctx.redis, ctx.keys.all)) > 0, 'the prefix had keys (sessions, rate limits)');

    // Records: all there.
    assert.equal((await ctx.tickets.get(ticket.id))?.state, 'open');
    const events = await ctx.tickets.events(ticket.id);
    assert.ok(events.some((e) => e.type === 'note' && e.message === 'checked the logs'));
    assert.ok(events.some((e) => e.type === 'reply' && e.id === replyId && e.template === 'need-info'));
    assert.deepEqual(await ctx.tickets.reports(kase.id), ['rq-flush-aaaaaaa']);
    assert.equal((await ctx.tickets.counts('open')).all, 2);
    assert.deepEqual((await ctx.tickets.query({ state: 'open', sort: 'sla', filters: { ip: '203.0.113.9' }, limit: 50 })).tickets.map((t) => t.id), ['t-flush']);
    assert.ok((await ctx.audit.recent(50)).some((e) => e.action === 'ticket.note' && e.target === ticket.id));
    assert.ok((await ctx.audit.recent(50)).some((e) => e.action === 'staff.login' && e.actor === 'triager@example.net'));
    assert.equal((await ctx.staff.get('triager@example.net'))?.role, 'triager');
    assert.equal((await ctx.apiTokens.verify(token))?.name, 'prometheus');
    await request(app).get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);

    // The staff session lived in Redis: it is gone, so the person signs in again (with the account from PostgreSQL).
    await agent.get('/staff').expect(303).expect('location', /\/staff\/login/);
    const again = request.agent(app);
    const page = await again.get('/staff/login').expect(200);
    await again.post('/staff/login').type('form').send({ _csrf: csrfOf(page), email: 'triager@example.net', password: PASSWORD }).expect(303);
    const queue = await again.get('/staff').expect(200);
    assert.match(queue.text, /t-flush/);
  });
});
