import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { addListing } from '../../src/features/blocklist/service.js';
import { createMailer } from '../../src/mail/mailer.js';
import { processSendMail } from '../../worker/processors/send-mail.js';
import { csrfOf } from '../helpers/forms.js';
import { eventually, startPortal } from '../helpers/portal.js';
import { decodeQuotedPrintable, type ReceivedMail } from '../helpers/smtp.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;

/** The text/plain part of a received multipart message, decoded. */
function textPart(mail: ReceivedMail): string {
  const m = /Content-Type: text\/plain[^]*?\r\n\r\n([^]*?)\r\n--/i.exec(mail.raw);
  assert.ok(m, 'the mail has a text/plain part');
  return decodeQuotedPrintable(m[1]!);
}

describe('the delist flow end to end (real Redis, worker, SMTP)', () => {
  let portal: Portal;
  let apiToken: string;
  before(async () => {
    portal = await startPortal();
    apiToken = await portal.ctx.apiTokens.create('test');
  });
  after(() => portal.stop());

  /** Form → challenge mail → confirm page → Delist IP; returns the status URL and the mail. */
  async function delist(email: string, ip: string) {
    const agent = request.agent(portal.app);
    const form = await agent.get('/delist').expect(200);
    await agent.post('/delist').type('form').send({ _csrf: csrfOf(form), email, ip }).expect(303);
    const mail = await portal.smtp.waitFor((m) => m.to.includes(email) && /Confirm the delisting/.test(m.raw));
    const link = /http:\/\/portal\.test(\/delist\/confirm\/[A-Za-z0-9_-]{43})/.exec(textPart(mail));
    assert.ok(link, 'the challenge mail carries the confirm link');
    const confirm = await agent.get(link[1]!).expect(200);
    const pressed = await agent.post(link[1]!).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    return { statusUrl: pressed.headers.location!, mail, confirm, agent, link: link[1]! };
  }

  const stateOf = async (statusUrl: string, wanted: string) =>
    eventually(async () => {
      const res = await request(portal.app).get(statusUrl).set('Accept', 'application/json');
      return res.body.state === wanted ? res.body : null;
    });

  it('removes a listed IP after the emailed challenge, publishes it, and mails the result', async () => {
    await addListing(portal.ctx, { target: '198.51.100.23', category: 'spam-source', source: 'cli', by: 'test' });
    const versionBefore = await portal.ctx.routing.version();
    const { statusUrl, mail, confirm, agent, link } = await delist('owner@example.com', '198.51.100.23');

    assert.match(confirm.text, /Listed/);
    assert.match(confirm.text, /3 of 3/);
    const status = await stateOf(statusUrl, 'delisted');
    assert.deepEqual(status.events.map((e: { state: string }) => e.state), ['awaiting_confirmation', 'queued', 'delisted']);

    const check = await request(portal.app).get('/api/v1/blocklist/check/198.51.100.23').expect(200);
    assert.equal(check.body.listed, false);
    const feed = await request(portal.app).get(`/api/v1/routing/feed?after=${versionBefore}`).set('Authorization', `Bearer ${apiToken}`).expect(200);
    assert.deepEqual(feed.body.entries[0].changes, [{ dataset: 'blocklist', op: 'remove', key: '198.51.100.23' }]);

    const result = await portal.smtp.waitFor((m) => m.to.includes('owner@example.com') && /Subject: Your delisting request/.test(m.raw));
    assert.match(textPart(result), /Result: Delisted/);
    assert.equal((await agent.post(link).type('form').send({ _csrf: csrfOf(confirm) })).status, 410);

    const decided = (await portal.ctx.audit.recent(50)).find((e) => e.action === 'delist.delisted' && e.target === '198.51.100.23');
    assert.equal(decided?.actor, 'automation:delist');
    const history = await portal.ctx.blocklist.history('198.51.100.23');
    assert.deepEqual(history.map((h) => h.action), ['listed', 'self-delisted']);
    assert.ok(mail.raw.length > 0);
  });

  it('sends a challenge mail with text and HTML parts, no line over 78 characters on the wire', async () => {
    await addListing(portal.ctx, { target: '198.51.100.40', category: 'spam-source', source: 'cli', by: 'test' });
    const { mail } = await delist('lines@example.com', '198.51.100.40');
    assert.match(mail.raw, /multipart\/alternative/i);
    assert.match(mail.raw, /Content-Type: text\/html/i);
    for (const line of mail.raw.split('\r\n')) assert.ok(line.length <= 78, `line of ${line.length}: ${line.slice(0, 40)}…`);
    assert.ok(!mail.raw.includes('challengeId'));
  });

  it('makes the challenge with the request, valid for the TTL from its creation, used up once; a second run of the mail job changes nothing', async () => {
    const { ctx } = portal;
    await addListing(ctx, { target: '198.51.100.41', category: 'spam-source', source: 'cli', by: 'test' });
    const { statusUrl } = await delist('twice@example.com', '198.51.100.41');
    const request = (await ctx.requests.get(statusUrl.split('/').pop()!))!;
    const made = await ctx.db.selectFrom('challenges').selectAll().where('request_id', '=', request.id).executeTakeFirstOrThrow();
    const ttlMs = ctx.policy.challenge.ttlMinutes * 60_000;
    assert.equal(made.id, request.challengeId);
    assert.equal(made.expires_at.getTime(), Date.parse(request.createdAt) + ttlMs);
    assert.ok(made.used_at, 'pressing Delist IP used it up');
    assert.equal(made.token_hash.length, 32, 'only the token\'s SHA-256 is kept');
    // The mail job again (a retry after its mail went out): the used challenge stays as it was, link dead.
    const mailer = createMailer({ smtpUrl: portal.smtp.url, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
    try {
      await processSendMail(ctx, mailer, { kind: 'delist-challenge', requestId: request.id });
    } finally {
      mailer.close();
    }
    assert.deepEqual(await ctx.db.selectFrom('challenges').selectAll().where('request_id', '=', request.id).executeTakeFirstOrThrow(), made);
    assert.equal((await ctx.challenges.check(ctx.challenges.tokenFor(request.challengeId))).status, 'used');
  });

  it('excludes an address inside a listed range instead of removing the range', async () => {
    await addListing(portal.ctx, { target: '203.0.113.192/27', category: 'backscatter', source: 'cli', by: 'test' });
    const { statusUrl } = await delist('range@example.com', '203.0.113.200');
    await stateOf(statusUrl, 'delisted');
    assert.ok(await portal.ctx.blocklist.getListing('203.0.113.192/27'));
    assert.ok(await portal.ctx.blocklist.getExclusion('203.0.113.200'));
    const other = await request(portal.app).get('/api/v1/blocklist/check/203.0.113.201').expect(200);
    assert.equal(other.body.listed, true);
  });

  it('sends a listing of a staff-only category to review and opens a ticket', async () => {
    await addListing(portal.ctx, { target: '2001:db8:bad::/48', category: 'botnet', source: 'cli', by: 'test' });
    const { statusUrl, confirm } = await delist('bot@example.com', '2001:db8:bad::25');
    assert.match(confirm.text, /not removed by self-service/);
    const status = await stateOf(statusUrl, 'needs_review');
    assert.match(status.reason, /botnet/);
    const request_ = await portal.ctx.requests.get(status.id);
    assert.ok(request_?.ticketId);
    assert.equal((await portal.ctx.tickets.get(request_!.ticketId!))?.state, 'open');
    assert.equal((await request(portal.app).get('/api/v1/blocklist/check/2001:db8:bad::25')).body.listed, true);
  });

  it('leaves an address unlisted when its own listing sits inside a wider self-removable listing', async () => {
    await addListing(portal.ctx, { target: '198.51.100.128/25', category: 'spam-source', source: 'cli', by: 'test' });
    await addListing(portal.ctx, { target: '198.51.100.130', category: 'backscatter', source: 'cli', by: 'test' });
    const { statusUrl } = await delist('nested@example.com', '198.51.100.130');
    await stateOf(statusUrl, 'delisted');
    assert.equal((await request(portal.app).get('/api/v1/blocklist/check/198.51.100.130')).body.listed, false);
    assert.equal((await request(portal.app).get('/api/v1/blocklist/check/198.51.100.131')).body.listed, true);
  });

  it('sends the fourth self-delist of an IP within 30 days to review', async () => {
    const ip = '198.51.100.50';
    for (const n of [1, 2, 3]) await portal.ctx.blocklist.recordSelfDelistIn(portal.ctx.db, ip, `earlier-${n}`, new Date(Date.now() - n * 86_400_000));
    await addListing(portal.ctx, { target: ip, category: 'spam-source', source: 'cli', by: 'test' });
    const { statusUrl, confirm } = await delist('budget@example.com', ip);
    assert.match(confirm.text, /0 of 3/);
    const status = await stateOf(statusUrl, 'needs_review');
    assert.match(status.reason, /used all 3 self-delists/);
  });

  it('ends as not_listed when the IP is no longer listed by the time the job runs', async () => {
    await addListing(portal.ctx, { target: '198.51.100.60', category: 'spam-source', source: 'cli', by: 'test' });
    const agent = request.agent(portal.app);
    const form = await agent.get('/delist');
    await agent.post('/delist').type('form').send({ _csrf: csrfOf(form), email: 'gone@example.com', ip: '198.51.100.60' }).expect(303);
    const mail = await portal.smtp.waitFor((m) => m.to.includes('gone@example.com'));
    const link = /\/delist\/confirm\/[A-Za-z0-9_-]{43}/.exec(textPart(mail))![0];
    const confirm = await agent.get(link).expect(200);
    await portal.ctx.db.deleteFrom('blocklist_entries').where('cidr', '=', '198.51.100.60').execute(); // behind the publisher's back
    const pressed = await agent.post(link).type('form').send({ _csrf: csrfOf(confirm) }).expect(303);
    await stateOf(pressed.headers.location!, 'not_listed');
  });
});
