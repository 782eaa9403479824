import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import { createMailer, readOutbox } from '../../src/mail/mailer.js';
import type { Policy } from '../../src/policy.js';
import { processSendMail } from '../../worker/processors/send-mail.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { csrfOf } from '../helpers/forms.js';
import { messageFromTenant } from '../helpers/messages.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';
import { storedRequestIds } from '../helpers/portal.js';

/**
 * Issue 13, item 5: challenge mails cannot be aimed at someone. Each limit is counted on the address as
 * normalised, across the three flows that mail a challenge (delist, unblock, report), and per recipient domain.
 */
const roomy = { max: 1000, windowMinutes: 60 };
type Limits = Policy['rateLimits'];

function portal(limits: Partial<Limits>, sharedMailboxDomains?: string[]): TestContext {
  return testContext({
    policy: (p) => ({
      ...p,
      challenge: { ...p.challenge, resendCooldownSeconds: 0, ...(sharedMailboxDomains && { sharedMailboxDomains }) },
      rateLimits: { ...(Object.fromEntries(Object.keys(p.rateLimits).map((k) => [k, roomy])) as Limits), ...limits },
    }),
  });
}

type App = ReturnType<typeof createApp>;
const ip = (n: number) => `198.51.100.${n}`;

async function delist(app: App, email: string, target: string, from = '192.0.2.1') {
  const agent = request.agent(app);
  const csrf = csrfOf(await agent.get('/delist'));
  return agent.post('/delist').set('X-Forwarded-For', from).type('form').send({ _csrf: csrf, email, ip: target });
}

const UNBLOCK = { tenant: 'tenant-limits', domainsRegistered: 'on', connectorsReviewed: 'on', serversLockedDown: 'on', evidence: 'We removed the open connector and rotated every credential.' };
async function unblock(app: App, email: string, fields: Record<string, string> = UNBLOCK) {
  const agent = request.agent(app);
  const csrf = csrfOf(await agent.get('/unblock'));
  return agent.post('/unblock').type('form').send({ _csrf: csrf, ...fields, email });
}

let messageNo = 0;
/** The report form (a draft) and, unless `send` is false, the "send the report" step that mails the challenge. */
async function report(app: App, email: string, opts: { send?: boolean; category?: string; sample?: string } = {}) {
  const agent = request.agent(app);
  const csrf = csrfOf(await agent.get('/report'));
  const sample = opts.sample ?? messageFromTenant({ tenant: 'tenant-limits', messageId: `<limit-${++messageNo}@shop.example.com>` });
  const draft = await agent.post('/report').field('_csrf', csrf).field('email', email).field('category', opts.category ?? 'spam').field('comment', '').field('raw', sample);
  if (draft.status !== 303 || opts.send === false) return draft;
  const preview = await agent.get(draft.headers.location!).expect(200);
  return agent.post(draft.headers.location!).type('form').send({ _csrf: csrfOf(preview) });
}

const stored = (ctx: TestContext) => storedRequestIds(ctx).then((ids) => ids.length);

describe('challenge mails: per-email limits count the address as normalised', () => {
  let ctx: TestContext;
  let app: App;
  before(() => {
    ctx = portal({ delistPerEmail: { max: 2, windowMinutes: 60 }, unblockPerEmail: { max: 2, windowMinutes: 60 }, reportDraftPerEmail: { max: 2, windowMinutes: 60 } });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  it('POST /delist: +tags, dots and googlemail.com are one Gmail mailbox', async () => {
    assert.equal((await delist(app, 'jane.doe+one@gmail.com', ip(1))).status, 303);
    assert.equal((await delist(app, 'JaneDoe+two@googlemail.com', ip(2))).status, 303);
    const third = await delist(app, 'j.a.n.e.d.o.e@gmail.com', ip(3));
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers['retry-after']) > 0);
    assert.equal((await delist(app, 'john@gmail.com', ip(4))).status, 303, 'another mailbox has its own quota');
  });

  it('POST /unblock has a per-email limit, and a form that did not validate does not count against the address', async () => {
    for (let i = 0; i < 4; i++) assert.equal((await unblock(app, 'ops+x@tenant.example', { ...UNBLOCK, evidence: 'short' })).status, 400);
    assert.equal((await unblock(app, 'ops+a@tenant.example')).status, 303);
    assert.equal((await unblock(app, 'OPS+b@tenant.example')).status, 303);
    const before = await stored(ctx);
    const third = await unblock(app, 'ops@tenant.example');
    assert.equal(third.status, 429);
    assert.match(third.text, /Too many requests/);
    assert.equal(await stored(ctx), before, 'a refused request stores nothing');
  });

  it('POST /report (drafts) has a per-email limit; a form that did not validate does not count', async () => {
    assert.equal((await report(app, 'rep+x@reporter.example', { send: false, category: 'no-such-category' })).status, 400);
    assert.equal((await report(app, 'rep+x@reporter.example', { send: false, category: 'no-such-category' })).status, 400);
    assert.equal((await report(app, 'rep+1@reporter.example', { send: false })).status, 303);
    assert.equal((await report(app, 'Rep+2@Reporter.example', { send: false })).status, 303);
    assert.equal((await report(app, 'rep@reporter.example', { send: false })).status, 429);
  });

  it('the resend cool-down holds for every spelling of an address', async () => {
    const ctx2 = testContext();
    try {
      const app2 = createApp(ctx2);
      assert.equal((await delist(app2, 'cool+1@example.net', ip(40))).status, 303);
      assert.equal((await delist(app2, 'Cool+2@Example.net', ip(40))).status, 303, 'the same neutral answer');
      assert.equal(await stored(ctx2), 1, 'one request and one challenge mail within the cool-down');
      assert.equal((await unblock(app2, 'cool+1@example.net')).status, 303);
      assert.equal((await unblock(app2, 'COOL+2@example.net')).status, 303);
      assert.equal(await stored(ctx2), 2, 'one unblock request within the cool-down');
    } finally {
      await ctx2.cleanup();
    }
  });
});

describe('challenge mails: caps per recipient and per recipient domain, across the three flows', () => {
  it('one address gets at most challengePerRecipient mails whatever flow and spelling', async () => {
    const ctx = portal({ challengePerRecipient: { max: 3, windowMinutes: 60 } });
    try {
      const app = createApp(ctx);
      assert.equal((await delist(app, 'victim+1@victim.example', ip(10))).status, 303);
      assert.equal((await unblock(app, 'Victim+2@victim.example')).status, 303);
      assert.equal((await report(app, 'victim+3@victim.example')).status, 303);
      const before = await stored(ctx);
      assert.equal((await delist(app, 'victim+4@victim.example', ip(11))).status, 429);
      assert.equal((await unblock(app, 'victim@victim.example')).status, 429);
      assert.equal((await report(app, 'VICTIM@victim.example')).status, 429, 'the send step is refused');
      assert.equal(await stored(ctx), before, 'no request, so no mail, for the refused ones');
      assert.equal((await delist(app, 'someone-else@victim.example', ip(12))).status, 303);
    } finally {
      await ctx.cleanup();
    }
  });

  it('one domain gets at most challengePerRecipientDomain mails, whatever the mailboxes', async () => {
    const ctx = portal({ challengePerRecipientDomain: { max: 3, windowMinutes: 60 } });
    try {
      const app = createApp(ctx);
      assert.equal((await delist(app, 'a1@small.example', ip(20))).status, 303);
      assert.equal((await unblock(app, 'a2@SMALL.example')).status, 303);
      assert.equal((await report(app, 'a3@small.example')).status, 303);
      assert.equal((await delist(app, 'a4@small.example', ip(21))).status, 429);
      assert.equal((await unblock(app, 'a5@small.example')).status, 429);
      assert.equal((await delist(app, 'a1@other.example', ip(22))).status, 303, 'another domain has its own cap');
      // googlemail.com is gmail.com (here with no shared mailbox domains configured, so gmail.com is capped too).
      const gmail = portal({ challengePerRecipientDomain: { max: 1, windowMinutes: 60 } }, []);
      try {
        const app2 = createApp(gmail);
        assert.equal((await delist(app2, 'x@gmail.com', ip(23))).status, 303);
        assert.equal((await delist(app2, 'y@googlemail.com', ip(24))).status, 429);
      } finally {
        await gmail.cleanup();
      }
    } finally {
      await ctx.cleanup();
    }
  });
});

describe('a public mailbox provider cannot be locked out through the per-domain cap', () => {
  it('addresses at gmail.com, naver.com and hinet.net are not capped per domain; each address still is, and a company domain still is', async () => {
    const ctx = portal({ challengePerRecipientDomain: { max: 2, windowMinutes: 60 }, challengePerRecipient: { max: 1, windowMinutes: 60 } });
    try {
      const app = createApp(ctx);
      // An attacker uses up what would be gmail.com's cap with made-up mailboxes…
      for (let i = 0; i < 4; i++) assert.equal((await delist(app, `made.up${i}@gmail.com`, ip(30 + i), `203.0.113.${i + 1}`)).status, 303);
      // …and a real gmail user still gets their mail; the same for a Korean and a Taiwanese provider (googlemail.com is gmail.com).
      assert.equal((await delist(app, 'real.person@googlemail.com', ip(40))).status, 303);
      for (let i = 0; i < 3; i++) assert.equal((await unblock(app, `user${i}@naver.com`)).status, 303);
      for (let i = 0; i < 3; i++) assert.equal((await delist(app, `user${i}@msa.hinet.net`, ip(50 + i))).status, 303);
      // Each address keeps its own cap (dots and +tags are the same gmail mailbox)…
      assert.equal((await delist(app, 'r.e.a.l.person+x@gmail.com', ip(41))).status, 429);
      // …and a company's domain keeps its cap.
      assert.equal((await delist(app, 'a@company.example', ip(60))).status, 303);
      assert.equal((await delist(app, 'b@company.example', ip(61))).status, 303);
      assert.equal((await delist(app, 'c@company.example', ip(62))).status, 429);
    } finally {
      await ctx.cleanup();
    }
  });
});

describe('IPv6 clients are counted per /64', () => {
  let ctx: TestContext;
  let app: App;
  before(() => {
    ctx = portal({ lookupPerClientIp: { max: 2, windowMinutes: 10 }, delistPerClientIp: { max: 2, windowMinutes: 10 } });
    app = createApp(ctx);
  });
  after(() => ctx.cleanup());

  const lookup = (from: string) => request(app).get('/lookup?ip=198.51.100.1').set('X-Forwarded-For', from);

  it('addresses of one /64 share a counter; the next /64 of the same /56 has its own (express-rate-limit limiters)', async () => {
    assert.equal((await lookup('2001:db8:1:200::1')).status, 200);
    assert.equal((await lookup('2001:db8:1:200:ffff:ffff:ffff:fffe')).status, 200);
    assert.equal((await lookup('2001:db8:1:200:abcd::9')).status, 429, 'the same /64');
    assert.equal((await lookup('2001:db8:1:201::1')).status, 200, 'a neighbouring /64 in the same /56');
    assert.equal((await lookup('2001:db8:1:2ff::1')).status, 200);
  });

  it('the same on POST /delist (the delist intake\'s counters)', async () => {
    assert.equal((await delist(app, 'six1@example.org', ip(30), '2001:db8:2:100::1')).status, 303);
    assert.equal((await delist(app, 'six2@example.org', ip(31), '2001:db8:2:100::2')).status, 303);
    assert.equal((await delist(app, 'six3@example.org', ip(32), '2001:db8:2:100:1::3')).status, 429, 'the same /64');
    assert.equal((await delist(app, 'six4@example.org', ip(33), '2001:db8:2:101::1')).status, 303, 'a neighbouring /64 in the same /56');
  });
});

describe('/status/:id has a per-client limit', () => {
  it('answers 429 with Retry-After once a client used statusPerClientIp', async () => {
    const ctx = portal({ statusPerClientIp: { max: 3, windowMinutes: 1 } });
    try {
      const app = createApp(ctx);
      for (let i = 0; i < 3; i++) assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA').set('X-Forwarded-For', '192.0.2.50')).status, 404);
      const limited = await request(app).get('/status/AAAAAAAAAAAAAAAA').set('X-Forwarded-For', '192.0.2.50');
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers['retry-after']) > 0);
      const json = await request(app).get('/status/AAAAAAAAAAAAAAAA').set('X-Forwarded-For', '192.0.2.50').set('Accept', 'application/json');
      assert.equal(json.status, 429);
      assert.equal(json.body.code, 'RATE_LIMITED');
      assert.equal((await request(app).get('/status/AAAAAAAAAAAAAAAA').set('X-Forwarded-For', '192.0.2.51')).status, 404, 'another client is not limited');
    } finally {
      await ctx.cleanup();
    }
  });
});

describe('the report challenge mail carries nothing from the sample', () => {
  it('sends our fixed text and the link only, whatever the sample\'s Subject and From say', async () => {
    const ctx = portal({});
    try {
      const app = createApp(ctx);
      // A decoded Subject with a newline and a link: the phishing text the old mail carried to any address.
      const subject = `=?utf-8?B?${Buffer.from('Your mailbox is locked\nVerify now at https://evil.example/login').toString('base64')}?=`;
      const sample = messageFromTenant({ tenant: 'tenant-mail', messageId: '<phish-1@shop.example.com>', subject, from: 'security@bank-login.example' });
      assert.equal((await report(app, 'target@victim.example', { sample })).status, 303);
      const id = (await storedRequestIds(ctx)).at(-1)!;
      const r = await ctx.requests.get(id);
      assert.match(r!.parsed!, /evil\.example/, 'the sample is kept as evidence');
      const mailer = createMailer({ smtpUrl: undefined, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
      await processSendMail(ctx, mailer, { kind: 'report-challenge', requestId: id });
      mailer.close();
      const [mail] = await readOutbox(ctx.redis, ctx.keys);
      assert.equal(mail?.to, 'target@victim.example');
      for (const part of [mail!.subject, mail!.text, mail!.raw, decodeQuotedPrintable(mail!.raw)]) {
        for (const bad of ['evil.example', 'Verify now', 'mailbox is locked', 'bank-login', 'security@', 'shop.example.com', 'Deals']) assert.ok(!part.includes(bad), `the mail carries "${bad}"`);
      }
      assert.match(mail!.text, new RegExp(`${ctx.config.publicUrl}/report/confirm/[A-Za-z0-9_-]{20,}`));
      assert.equal(mail!.subject, 'Confirm your abuse report');
    } finally {
      await ctx.cleanup();
    }
  });
});
