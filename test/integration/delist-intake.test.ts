import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import type { Database } from '../../src/db/schema.js';
import { createApp } from '../../src/app.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { outboxEntries, storedRequestIds } from '../helpers/portal.js';

/**
 * The delist intake (issue 14): plain express-rate-limit middlewares (counters in Redis), the resend cool-down, then
 * ONE PostgreSQL transaction writing the request, its first event, its challenge and its mail job's outbox row.
 */
describe('delist intake', () => {
  let ctx: TestContext;
  let app: ReturnType<typeof createApp>;
  before(() => {
    ctx = testContext({
      policy: (p) => ({
        ...p,
        challenge: { ...p.challenge, resendCooldownSeconds: 60 },
        rateLimits: { ...p.rateLimits, delistPerClientIp: { max: 6, windowMinutes: 60 }, delistPerEmail: { max: 4, windowMinutes: 60 }, delistPerTargetIp: { max: 1000, windowMinutes: 60 } },
      }),
    });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  async function submit(agent: ReturnType<typeof request.agent>, fields: Record<string, string>) {
    const form = await agent.get('/delist').expect(200);
    return agent.post('/delist').type('form').send({ _csrf: csrfOf(form), ...fields });
  }

  it('writes the request, its first event, its challenge and its mail job together, in PostgreSQL', async () => {
    const now = new Date();
    await requestDelist(ctx, { email: 'together@example.org', ip: '192.0.2.10', lang: 'ko' }, now);
    const [id] = (await storedRequestIds(ctx)).slice(-1);
    const r = (await ctx.requests.get(id!))!;
    assert.deepEqual([r.type, r.state, r.email, r.ip, r.lang, r.createdAt], ['delist', 'awaiting_confirmation', 'together@example.org', '192.0.2.10', 'ko', now.toISOString()]);
    assert.deepEqual((await ctx.requests.events(id!)).map((e) => e.state), ['awaiting_confirmation']);
    assert.equal((await ctx.challenges.check(ctx.challenges.tokenFor(r.challengeId), now)).status, 'valid');
    const jobs = (await outboxEntries(ctx)).filter((e) => e.payload.requestId === id);
    assert.deepEqual(jobs.map((j) => [j.queue, j.job_name, j.job_id, j.handed_at]), [['mail', 'send-mail', `delist-challenge-${id}`, null]]);
  });

  it('writes nothing when the transaction fails (no request without its challenge and job, and no half request)', async () => {
    const before = (await storedRequestIds(ctx)).length;
    const outbox = (await outboxEntries(ctx)).length;
    // An address PostgreSQL refuses (the form validates first; here the use case is called with one): the insert fails.
    await assert.rejects(requestDelist(ctx, { email: 'broken@example.org', ip: 'not-an-address' }));
    assert.equal((await storedRequestIds(ctx)).length, before);
    assert.equal((await outboxEntries(ctx)).length, outbox);
    assert.equal(await ctx.db.selectFrom('challenges').select('id').where('request_id', 'not in', await storedRequestIds(ctx)).executeTakeFirst(), undefined);
  });

  it('counts only valid forms (per client, then per email), and the cool-down answers like a success', async () => {
    const agent = request.agent(app);
    const before = (await storedRequestIds(ctx)).length;
    // An invalid form counts against nothing (issue 16: a typo never uses up anyone's quota).
    assert.equal((await submit(agent, { email: 'nobody', ip: '198.51.100.1' })).status, 400);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('delist-email') + 'nobody'), null);
    assert.deepEqual(await ctx.redis.keys(ctx.keys.rateLimit('delist-client') + '*'), [], 'nor against the client');
    // Four valid ones: the fourth repeats the first IP within the cool-down (same answer, nothing stored).
    for (const ip of ['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.1']) assert.equal((await submit(agent, { email: 'intake@example.org', ip })).status, 303);
    assert.equal((await storedRequestIds(ctx)).length, before + 3);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('delist-email') + 'intake@example.org'), '4');
    // The fifth valid form is over the email's limit of 4: 429, nothing stored, and the recipient's cap (counted after
    // the email's limit) untouched.
    const limited = await submit(agent, { email: 'Intake@Example.org', ip: '198.51.100.9' });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) > 0);
    assert.equal(await ctx.redis.get(ctx.keys.rateLimit('challenge-recipient') + 'intake@example.org'), '4', 'a refused request counts against no later limit');
    // That was the client's fifth valid form; the sixth goes through, a seventh is over the client's limit whatever it holds.
    assert.equal((await submit(agent, { email: 'other@example.org', ip: '198.51.100.10' })).status, 303);
    assert.equal((await submit(agent, { email: 'third@example.org', ip: '198.51.100.11' })).status, 429);
    assert.equal((await storedRequestIds(ctx)).length, before + 4);
  });

  it('lifts the resend cool-down when the request could not be stored, so a retry is stored and mailed', async () => {
    // The same context with a database nobody answers on: the transaction fails after the cool-down was set.
    const dead = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ host: '127.0.0.1', port: 9, connectionTimeoutMillis: 300 }) }) });
    try {
      await assert.rejects(requestDelist({ ...ctx, db: dead }, { email: 'retry@example.org', ip: '203.0.113.77' }));
    } finally {
      await dead.destroy();
    }
    const before = (await storedRequestIds(ctx)).length;
    await requestDelist(ctx, { email: 'retry@example.org', ip: '203.0.113.77' });
    assert.equal((await storedRequestIds(ctx)).length, before + 1, 'the retry within the cool-down was stored');
    // And the cool-down now runs for the stored one.
    await requestDelist(ctx, { email: 'retry@example.org', ip: '203.0.113.77' });
    assert.equal((await storedRequestIds(ctx)).length, before + 1);
  });
});
