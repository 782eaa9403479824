import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { confirmUnblock, requestUnblock } from '../../src/features/unblock/service.js';
import { GoneError } from '../../src/errors.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { outboxEntries, storedRequestIds } from '../helpers/portal.js';

describe('tenant unblock confirmation (real Redis)', () => {
  let ctx: TestContext;
  before(() => {
    ctx = testContext();
  });
  after(() => ctx.cleanup());

  /** An unblock request awaiting confirmation, and the token its mail carries. */
  async function pending(tenant: string): Promise<{ requestId: string; token: string }> {
    await requestUnblock(ctx, { tenant, email: `admin@${tenant}.example`, evidence: 'Rogue connector removed, servers patched, every domain registered.' });
    const [requestId] = (await storedRequestIds(ctx)).slice(-1);
    const request = (await ctx.requests.get(requestId!))!;
    assert.equal(request.tenant, tenant);
    return { requestId: requestId!, token: ctx.challenges.tokenFor(request.challengeId!) };
  }

  it('writes the challenge mail to the job outbox together with the request', async () => {
    const { requestId } = await pending('outbox-tenant');
    const jobIds = (await outboxEntries(ctx)).map((e) => e.job_id);
    assert.ok(jobIds.includes(`unblock-challenge-${requestId}`), `outbox holds ${jobIds.join(', ')}`);
  });

  it('opens exactly one ticket when the link is confirmed five times at once; the others are told it was used', async () => {
    const { requestId, token } = await pending('racing-tenant');
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => confirmUnblock(ctx, token)));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1);
    for (const o of outcomes.filter((o) => o.status === 'rejected')) {
      assert.ok(o.reason instanceof GoneError);
      assert.equal(o.reason.code, 'LINK_USED');
    }
    const request = await ctx.requests.get(requestId);
    assert.equal(request?.state, 'needs_review');
    assert.equal(request?.ticketId, `t-${requestId}`);
    assert.equal((await ctx.tickets.get(`t-${requestId}`))?.kind, 'tenant-unblock');
    const events = (await ctx.requests.events(requestId)).filter((e) => e.state === 'needs_review');
    assert.equal(events.length, 1);
    assert.equal((await ctx.challenges.check(token)).status, 'used');
  });

  it('leaves the link unused when the ticket writes cannot be queued (nothing half-done)', async () => {
    const { requestId, token } = await pending('failing-tenant');
    await assert.rejects(
      ctx.challenges.use(token, async (trx, id) => {
        await ctx.requests.transitionIn(trx, id, 'needs_review', 'half-done');
        throw new Error('ticket writes failed');
      }),
      /ticket writes failed/,
    );
    assert.equal((await ctx.challenges.check(token)).status, 'valid');
    assert.equal((await ctx.requests.get(requestId))?.state, 'awaiting_confirmation');
    // and the link still works afterwards
    assert.equal(await confirmUnblock(ctx, token), requestId);
    assert.equal((await ctx.requests.get(requestId))?.state, 'needs_review');
  });

  it('refuses an unknown token without any writes', async () => {
    assert.deepEqual(await ctx.challenges.use('not-a-token', () => assert.fail('no writes for an unknown token')), { status: 'unknown' });
    assert.deepEqual(await ctx.challenges.use('A'.repeat(43), () => assert.fail('no writes for an unknown token')), { status: 'unknown' });
  });

  it('uses a link up once of 20 at once (one conditional UPDATE), and an expired link never', async () => {
    const { requestId, token } = await pending('twenty-tenant');
    let ran = 0;
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => ctx.challenges.use(token, async () => void ran++)));
    assert.equal(outcomes.filter((o) => o.status === 'valid').length, 1);
    assert.equal(outcomes.filter((o) => o.status === 'used').length, 19);
    assert.equal(ran, 1);
    const late = await pending('late-tenant');
    const afterExpiry = new Date(Date.now() + (ctx.policy.challenge.ttlMinutes + 1) * 60_000);
    assert.deepEqual(await ctx.challenges.use(late.token, () => assert.fail('no writes for an expired link'), afterExpiry), { status: 'expired', requestId: late.requestId });
    assert.ok(requestId);
  });
});
