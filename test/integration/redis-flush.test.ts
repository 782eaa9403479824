import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addListing } from '../../src/features/blocklist/service.js';
import { confirmDelist, requestDelist } from '../../src/features/delist/service.js';
import { confirmReport, createDraft, submitDraft, submitMachineReport } from '../../src/features/report/service.js';
import { confirmUnblock, requestUnblock } from '../../src/features/unblock/service.js';
import { createMailer } from '../../src/mail/mailer.js';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { FINAL_STATES } from '../../src/stores/requests.js';
import { startWorkers, type Runner } from '../../worker/workers.js';
import { REDIS_URL, testContext } from '../helpers/context.js';
import { messageFromTenant } from '../helpers/messages.js';
import { challengeToken, eventually, listenOptions, outboxEntries, relayOutbox, storedRequestIds } from '../helpers/portal.js';
import { decodeQuotedPrintable, startSmtpSink } from '../helpers/smtp.js';

/**
 * Issue 14: Redis keeps only coordination. Emptying the test's Redis prefix after the submissions (some of their
 * jobs already handed to BullMQ) loses no record, and every request still reaches its final state once a worker runs.
 */
describe('Redis emptied mid-run', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('loses no request, challenge, draft, report or outbox entry; every request still reaches its final state', async () => {
    const smtp = await startSmtpSink();
    cleanups.push(() => smtp.close());
    const ctx = testContext({ env: { SMTP_URL: smtp.url } });
    cleanups.push(() => ctx.cleanup());

    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });
    for (let i = 1; i <= 3; i++) await requestDelist(ctx, { email: `flush${i}@example.org`, ip: `198.51.100.${i}` });
    const [first] = await storedRequestIds(ctx);
    await confirmDelist(ctx, await challengeToken(ctx, first!));
    const kept = await createDraft(ctx, { email: 'draft@example.org', category: 'spam', comment: 'kept', sample: Buffer.from(messageFromTenant({ tenant: 'tenant-flush', messageId: '<kept@shop.example.com>' })) });
    const submitted = await createDraft(ctx, { email: 'reporter@example.org', category: 'spam', comment: '', sample: Buffer.from(messageFromTenant({ tenant: 'tenant-flush', messageId: '<web@shop.example.com>' })) });
    await submitDraft(ctx, submitted);
    const api = await submitMachineReport(ctx, Buffer.from(messageFromTenant({ tenant: 'tenant-flush', messageId: '<api@shop.example.com>' })), { channel: 'api', clientIp: '192.0.2.1', apiTokenName: 'flush' });
    await requestUnblock(ctx, { tenant: 'tenant-flush', email: 'admin@tenant-flush.example', evidence: 'Connector removed, every domain registered.' });
    await relayOutbox(ctx); // some jobs are in BullMQ now, the rest wait in the outbox

    const records = async () => ({
      requests: (await ctx.db.selectFrom('requests').select(['id', 'state']).orderBy('id').execute()),
      events: Number((await ctx.db.selectFrom('request_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n),
      challenges: (await ctx.db.selectFrom('challenges').select(['id', 'used_at']).orderBy('id').execute()),
      drafts: (await ctx.db.selectFrom('report_drafts').select('id').orderBy('id').execute()),
      evidence: (await ctx.db.selectFrom('evidence').select(['report_id', 'sha256']).orderBy('report_id').execute()),
      outbox: (await outboxEntries(ctx)).map((e) => e.job_id),
    });
    const before = await records();
    assert.equal(before.requests.length, 6);
    assert.equal(before.challenges.length, 5, 'three delists, a web report and an unblock: each made its challenge with the request');
    assert.ok(await ctx.jobs.mail.getJob(`delist-challenge-${first}`), 'handed over to BullMQ before the flush');

    assert.ok((await deleteByPattern(ctx.redis, ctx.keys.all)) > 0);
    assert.equal(await ctx.jobs.mail.getJob(`delist-challenge-${first}`), undefined, 'BullMQ lost its jobs');
    assert.deepEqual(await records(), before, 'PostgreSQL lost nothing');
    assert.equal((await ctx.reportDrafts.get(kept))?.comment, 'kept');
    assert.ok(await ctx.requests.sample(api.id), 'the evidence is still there');

    // A worker starts: the relay's sweep hands the lost jobs over again, and every request goes on.
    const connection = createRedis(REDIS_URL, 'worker');
    const mailer = createMailer({ smtpUrl: smtp.url, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
    const workers: Runner[] = startWorkers(ctx, connection, mailer, { listen: await listenOptions(ctx), sweepMs: 300, sweepAfterMs: 300 });
    cleanups.push(async () => {
      await Promise.all(workers.map((w) => w.close()));
      mailer.close();
      await connection.quit();
    });

    // The people confirm from their mails, the way users do.
    const linkIn = async (to: string, path: string) => {
      const mail = await smtp.waitFor((m) => m.to.includes(to) && decodeQuotedPrintable(m.raw).includes(path), 20_000);
      return new RegExp(`${path}([A-Za-z0-9_-]{43})`).exec(decodeQuotedPrintable(mail.raw))![1]!;
    };
    for (const i of [2, 3]) await confirmDelist(ctx, await linkIn(`flush${i}@example.org`, '/delist/confirm/'));
    await confirmReport(ctx, await linkIn('reporter@example.org', '/report/confirm/'));
    await confirmUnblock(ctx, await linkIn('admin@tenant-flush.example', '/unblock/confirm/'));

    await eventually(async () => {
      const rows = await ctx.db.selectFrom('requests').select(['id', 'state']).execute();
      return rows.every((r) => FINAL_STATES.includes(r.state));
    }, 30_000);
    // Every entry whose job was due is done (the listing's expiry waits for its day, handed over again as a delayed job).
    const due = async () => (await outboxEntries(ctx)).filter((e) => !e.run_at || e.run_at.getTime() <= Date.now());
    await eventually(async () => (await due()).every((e) => e.done_at), 30_000).catch(async (err) => {
      throw new Error(`${(err as Error).message}: not done ${JSON.stringify((await due()).filter((e) => !e.done_at).map((e) => e.job_id))}`);
    });
    const expiry = (await outboxEntries(ctx)).find((e) => e.queue === 'maintenance')!;
    assert.ok(await ctx.jobs.maintenance.getJob(expiry.job_id), 'the delayed expiry job is back in BullMQ');
  });
});
