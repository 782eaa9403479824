import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import nodemailer from 'nodemailer';
import { pino } from 'pino';
import type { SMTPServer } from 'smtp-server';
import { hashPassword, verifyPassword } from '../../src/domain/passwords.js';
import type { Policy } from '../../src/policy.js';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { createAbuseSmtpServer, listenSmtp } from '../../src/smtp/intake.js';
import { REDIS_URL, testContext, type TestContext } from '../helpers/context.js';
import { messageFromTenant } from '../helpers/messages.js';
import { freePort, startRole } from '../helpers/processes.js';
import { makeCertificate, plainAuth, SmtpDialog } from '../helpers/smtp-client.js';
import { storedRequestIds } from '../helpers/portal.js';

type SmtpLimits = Policy['abuse']['smtp'];

/** Every uncaught exception while this file runs: an SMTP client must never cause one. */
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);
before(() => process.on('uncaughtException', onUncaught));
after(() => process.off('uncaughtException', onUncaught));

let cert: ReturnType<typeof makeCertificate>;
let partnerHash: string;
before(async () => {
  cert = makeCertificate();
  partnerHash = await hashPassword('correct horse battery staple');
});
after(() => rmSync(cert.dir, { recursive: true, force: true }));

const PARTNER = { name: 'Example FBL', smtpAuth: { username: 'fbl-example', password: 'correct horse battery staple' } };

/** An intake on 127.0.0.1:0 with its own Redis prefix, small limits and a logger whose lines the test can read. */
async function startIntake(opts: { limits?: Partial<SmtpLimits>; tls?: boolean; partner?: boolean; partnerIps?: string[]; maxBytes?: number } = {}) {
  const ctx: TestContext = testContext({
    env: opts.tls ? { ABUSE_SMTP_TLS_KEY: cert.keyFile, ABUSE_SMTP_TLS_CERT: cert.certFile } : {},
    policy: (p) => ({
      ...p,
      samples: { ...p.samples, ...(opts.maxBytes && { maxBytes: opts.maxBytes }) },
      abuse: { ...p.abuse, smtp: { ...p.abuse.smtp, ...opts.limits } },
      partners:
        opts.partner || opts.partnerIps
          ? [{ name: PARTNER.name, ...(opts.partner && { smtpAuth: { username: PARTNER.smtpAuth.username, passwordHash: partnerHash } }), clientIps: opts.partnerIps ?? [], dkimDomains: [], apiTokens: [] }]
          : [],
    }),
  });
  const logs: Array<Record<string, unknown>> = [];
  ctx.logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(JSON.parse(chunk.toString()));
        cb();
      },
    }),
  );
  const server: SMTPServer = createAbuseSmtpServer(ctx);
  await listenSmtp(server, 0, '127.0.0.1');
  const port = (server.server.address() as AddressInfo).port;
  return {
    ctx,
    port,
    logs,
    open: (localAddress?: string) => SmtpDialog.open(port, localAddress ? { localAddress } : {}),
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ctx.cleanup();
    },
  };
}
type Intake = Awaited<ReturnType<typeof startIntake>>;

/** The intake is alive: a new connection is greeted and EHLO answered. */
async function assertAnswers(intake: Intake, localAddress?: string) {
  const { dialog, greeting } = await intake.open(localAddress);
  assert.equal(greeting.code, 220, greeting.text);
  assert.equal((await dialog.command('EHLO client.example')).code, 250);
  assert.equal((await dialog.command('QUIT')).code, 221);
  dialog.destroy();
}

/** DATA with a message, dot-stuffed; returns the final reply. */
async function sendData(dialog: SmtpDialog, message: string) {
  const data = await dialog.command('DATA');
  assert.equal(data.code, 354, data.text);
  dialog.write(`${message.replace(/\r\n\./g, '\r\n..')}\r\n.\r\n`);
  return dialog.reply(10_000);
}

const eventually = async (check: () => boolean | Promise<boolean>, ms = 3000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
};

describe('SMTP intake: no connection takes it down', () => {
  it('a TCP reset right after MAIL FROM is logged and the intake answers the next connection', async () => {
    const intake = await startIntake();
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      assert.equal((await dialog.command('MAIL FROM:<fbl@isp.example.org>')).code, 250);
      (dialog.socket as net.Socket).resetAndDestroy();
      await dialog.closed;
      assert.ok(await eventually(() => intake.logs.some((l) => /ECONNRESET/.test(JSON.stringify(l)))), 'the reset is logged');
      await assertAnswers(intake);
      assert.deepEqual(uncaught, []);
    } finally {
      await intake.stop();
    }
  });

  it('a TCP reset in the middle of DATA stores nothing, frees its slot, and the intake answers the next connection', async () => {
    const intake = await startIntake({ limits: { maxConcurrentMessages: 1 } });
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      await dialog.command('MAIL FROM:<fbl@isp.example.org>');
      await dialog.command('RCPT TO:<abuse@portal.example.net>');
      assert.equal((await dialog.command('DATA')).code, 354);
      dialog.write(messageFromTenant({ tenant: 'tenant-cut', messageId: '<cut@shop.example.com>' }).slice(0, 300));
      await new Promise((r) => setTimeout(r, 100));
      (dialog.socket as net.Socket).resetAndDestroy();
      await dialog.closed;

      const { dialog: next } = await intake.open();
      await next.command('EHLO client.example');
      await next.command('MAIL FROM:<fbl@isp.example.org>');
      await next.command('RCPT TO:<abuse@portal.example.net>');
      const done = await sendData(next, messageFromTenant({ tenant: 'tenant-next', messageId: '<next@shop.example.com>' }));
      assert.equal(done.code, 250, `the cut message gave its slot back: ${done.text}`);
      assert.equal(await storedRequestIds(intake.ctx).then((ids) => ids.length), 1, 'only the whole message was stored');
      next.destroy();
      assert.deepEqual(uncaught, []);
    } finally {
      await intake.stop();
    }
  });

  it('without a certificate, STARTTLS is neither offered nor accepted, and plain bytes after it are just bad commands', async () => {
    const intake = await startIntake();
    try {
      const { dialog } = await intake.open();
      const ehlo = await dialog.command('EHLO client.example');
      assert.doesNotMatch(ehlo.text, /STARTTLS/);
      const starttls = await dialog.command('STARTTLS');
      assert.match(String(starttls.code), /^5/, starttls.text);
      assert.match(String((await dialog.command('\x16\x03\x01 this is not a TLS handshake')).code), /^5/);
      dialog.destroy();
      await assertAnswers(intake);
      assert.deepEqual(uncaught, []);
    } finally {
      await intake.stop();
    }
  });

  it('with a certificate, plain bytes where the TLS handshake belongs are logged and the intake answers the next connection', async () => {
    const intake = await startIntake({ tls: true });
    try {
      const { dialog } = await intake.open();
      assert.match((await dialog.command('EHLO client.example')).text, /STARTTLS/);
      assert.equal((await dialog.command('STARTTLS')).code, 220);
      dialog.write('EHLO this is not a TLS handshake at all\r\n\r\n');
      assert.ok(await dialog.closesWithin(3000), 'the failed handshake ends the connection');
      assert.ok(await eventually(() => intake.logs.some((l) => l.level === 40 && /smtp/i.test(String(l.msg)))), 'the failed handshake is logged');
      await assertAnswers(intake);
      assert.deepEqual(uncaught, []);
    } finally {
      await intake.stop();
    }
  });

  it('with a certificate, STARTTLS works: our certificate is presented and a report is taken over TLS', async () => {
    const intake = await startIntake({ tls: true });
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      assert.equal((await dialog.command('STARTTLS')).code, 220);
      const peer = await dialog.upgrade(cert.cert);
      assert.equal(peer.subject.CN, 'localhost');
      assert.doesNotMatch((await dialog.command('EHLO client.example')).text, /STARTTLS/);
      dialog.destroy();

      const transport = nodemailer.createTransport({ host: '127.0.0.1', port: intake.port, secure: false, requireTLS: true, tls: { ca: cert.cert, servername: 'localhost' } });
      try {
        const info = await transport.sendMail({ envelope: { from: 'fbl@isp.example.org', to: ['abuse@portal.example.net'] }, raw: messageFromTenant({ tenant: 'tenant-tls', messageId: '<tls1@shop.example.com>' }) });
        const id = /accepted as ([A-Za-z0-9_-]{16})/.exec(info.response)?.[1];
        assert.ok(id, info.response);
        assert.equal((await intake.ctx.requests.get(id))?.channel, 'smtp');
      } finally {
        transport.close();
      }
    } finally {
      await intake.stop();
    }
  });
});

describe('SMTP intake: limits', () => {
  it('caps concurrent connections per client IP; other addresses and later connections are still served', async () => {
    const intake = await startIntake({ limits: { maxConnectionsPerIp: 2 } });
    const open: SmtpDialog[] = [];
    try {
      for (let i = 0; i < 2; i++) {
        const { dialog, greeting } = await intake.open();
        assert.equal(greeting.code, 220);
        open.push(dialog);
      }
      const { dialog: third, greeting } = await intake.open();
      assert.equal(greeting.code, 421, greeting.text);
      assert.ok(await third.closesWithin(3000), 'the refused connection is closed');
      await assertAnswers(intake, '127.0.0.2');
      open.shift()!.destroy();
      assert.ok(
        await eventually(async () => {
          const { dialog, greeting: g } = await intake.open();
          dialog.destroy();
          return g.code === 220;
        }),
        'a slot freed by a closed connection is given again',
      );
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });

  it('caps all connections together (maxClients)', async () => {
    const intake = await startIntake({ limits: { maxClients: 3, maxConnectionsPerIp: 2, reservedForPartners: 0 } });
    const open: SmtpDialog[] = [];
    try {
      for (const addr of ['127.0.0.1', '127.0.0.1', '127.0.0.2']) {
        const { dialog, greeting } = await intake.open(addr);
        assert.equal(greeting.code, 220);
        open.push(dialog);
      }
      const { dialog, greeting } = await intake.open('127.0.0.3');
      assert.equal(greeting.code, 421, greeting.text);
      dialog.destroy();
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });

  it('closes an idle connection after the idle timeout', async () => {
    const intake = await startIntake({ limits: { idleTimeoutSeconds: 1 } });
    try {
      const { dialog } = await intake.open();
      const bye = await dialog.reply(4000);
      assert.equal(bye.code, 421, bye.text);
      assert.ok(await dialog.closesWithin(3000));
    } finally {
      await intake.stop();
    }
  });

  it('ends a slow-loris session (a byte now and then, never idle) at the session lifetime', async () => {
    const intake = await startIntake({ limits: { idleTimeoutSeconds: 1, sessionSeconds: 2 } });
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      const started = Date.now();
      const drip = setInterval(() => dialog.socket.writable && dialog.write('N'), 300);
      try {
        assert.ok(await dialog.closesWithin(6000), 'the server closed the dripping connection');
      } finally {
        clearInterval(drip);
      }
      assert.ok(Date.now() - started < 6000);
      await assertAnswers(intake);
    } finally {
      await intake.stop();
    }
  });

  it('caps RCPT commands per transaction with 452 4.5.3; a new transaction starts afresh', async () => {
    const intake = await startIntake({ limits: { maxRecipients: 3 } });
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      assert.equal((await dialog.command('MAIL FROM:<fbl@isp.example.org>')).code, 250);
      for (let i = 0; i < 3; i++) assert.equal((await dialog.command('RCPT TO:<abuse@portal.example.net>')).code, 250);
      const over = await dialog.command('RCPT TO:<abuse@portal.example.net>');
      assert.equal(over.code, 452);
      assert.match(over.text, /4\.5\.3 Too many recipients/);
      assert.equal((await dialog.command('RCPT TO:<fbl@portal.example.net>')).code, 452);
      assert.equal((await dialog.command('RSET')).code, 250);
      assert.equal((await dialog.command('MAIL FROM:<fbl@isp.example.org>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<fbl@portal.example.net>')).code, 250);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('receives a bounded number of unauthenticated reports at once (451 4.3.2 beyond), partners are not held up', async () => {
    const intake = await startIntake({ limits: { maxConcurrentMessages: 1 }, partner: true });
    const open: SmtpDialog[] = [];
    const begin = async (auth: boolean) => {
      const { dialog } = await intake.open();
      open.push(dialog);
      await dialog.command('EHLO client.example');
      if (auth) assert.equal((await dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`)).code, 235);
      await dialog.command('MAIL FROM:<fbl@isp.example.org>');
      await dialog.command('RCPT TO:<abuse@portal.example.net>');
      return dialog;
    };
    try {
      const slow = await begin(false);
      assert.equal((await slow.command('DATA')).code, 354);
      const message = messageFromTenant({ tenant: 'tenant-slow', messageId: '<slow@shop.example.com>' });
      slow.write(message.slice(0, 200));

      const second = await begin(false);
      const deferred = await sendData(second, messageFromTenant({ tenant: 'tenant-2nd', messageId: '<2nd@shop.example.com>' }));
      assert.equal(deferred.code, 451, deferred.text);
      assert.match(deferred.text, /4\.3\.2/);

      const partner = await begin(true);
      assert.equal((await sendData(partner, messageFromTenant({ tenant: 'tenant-fbl', messageId: '<fbl@shop.example.com>' }))).code, 250);

      slow.write(`${message.slice(200)}\r\n.\r\n`);
      assert.equal((await slow.reply(10_000)).code, 250);
      assert.equal((await second.command('MAIL FROM:<fbl@isp.example.org>')).code, 250);
      await second.command('RCPT TO:<abuse@portal.example.net>');
      assert.equal((await sendData(second, messageFromTenant({ tenant: 'tenant-2nd', messageId: '<2nd@shop.example.com>' }))).code, 250, 'the slot is free again');
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });

  it('has no VRFY and no EXPN', async () => {
    const intake = await startIntake();
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      const vrfy = await dialog.command('VRFY abuse@portal.example.net');
      assert.notEqual(vrfy.code, 252);
      assert.match(String(vrfy.code), /^5/);
      assert.match(String((await dialog.command('EXPN abuse')).code), /^5/);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('refuses an announced oversized message at MAIL FROM, and an oversized DATA with 552, storing nothing', async () => {
    const intake = await startIntake({ maxBytes: 64 * 1024 });
    try {
      const { dialog } = await intake.open();
      const ehlo = await dialog.command('EHLO client.example');
      assert.match(ehlo.text, /SIZE 65536/);
      assert.equal((await dialog.command('MAIL FROM:<fbl@isp.example.org> SIZE=10000000')).code, 552);
      assert.equal((await dialog.command('MAIL FROM:<fbl@isp.example.org>')).code, 250);
      assert.equal((await dialog.command('RCPT TO:<abuse@portal.example.net>')).code, 250);
      const big = await sendData(dialog, messageFromTenant({ tenant: 'tenant-big', messageId: '<big@shop.example.com>', bodyBytes: 200 * 1024 }));
      assert.equal(big.code, 552, big.text);
      assert.equal(await storedRequestIds(intake.ctx).then((ids) => ids.length), 0);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });
});

/** One report in a transaction of its own on an open dialogue: MAIL FROM (with `size` announced), RCPT, DATA. */
async function report(dialog: SmtpDialog, id: string, opts: { bodyBytes?: number; size?: number } = {}) {
  const mail = await dialog.command(`MAIL FROM:<someone@isp.example.org>${opts.size ? ` SIZE=${opts.size}` : ''}`);
  if (mail.code !== 250) return mail;
  assert.equal((await dialog.command('RCPT TO:<abuse@portal.example.net>')).code, 250);
  // The attack as it was seen: a forged Received line naming one of our pool IPs (203.0.113.10) and any tenant.
  return sendData(dialog, messageFromTenant({ tenant: 'anyone', messageId: `<${id}@forged.example>`, bodyBytes: opts.bodyBytes ?? 200 }));
}

/** Opens a dialogue from `localAddress`, says EHLO and, for `auth`, authenticates as the partner. */
async function session(intake: Intake, localAddress?: string, auth = false) {
  const { dialog, greeting } = await intake.open(localAddress);
  assert.equal(greeting.code, 220, greeting.text);
  await dialog.command('EHLO client.example');
  if (auth) assert.equal((await dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`)).code, 235);
  return dialog;
}

const stored = async (intake: Intake) => (await storedRequestIds(intake.ctx)).length;

// Issue 13 review: 20 messages of 10 MB with a forged pool Received line, over 2 connections without AUTH, were all
// accepted in 2.9 s (Redis 13 → 214 MB, samples kept 180 days).
describe('SMTP intake: hourly quotas per client IP for unauthenticated senders', () => {
  it('counts messages per client IP: past the cap, 450 4.7.1 at MAIL FROM on any connection; another address still reports', async () => {
    const intake = await startIntake({ limits: { messagesPerIpPerHour: 3 } });
    const open: SmtpDialog[] = [];
    try {
      const [a, b] = [await session(intake), await session(intake)];
      open.push(a, b);
      for (const [i, d] of [a, b, a].entries()) assert.equal((await report(d, `m${i}`)).code, 250);
      for (const d of [a, b]) {
        const refused = await d.command('MAIL FROM:<someone@isp.example.org>');
        assert.equal(refused.code, 450, refused.text);
        assert.match(refused.text, /4\.7\.1/);
      }
      const fresh = await session(intake);
      open.push(fresh);
      assert.equal((await fresh.command('MAIL FROM:<someone@isp.example.org>')).code, 450, 'a new connection from the address is refused too');
      assert.equal(await stored(intake), 3);

      const other = await session(intake, '127.0.0.2');
      open.push(other);
      assert.equal((await report(other, 'other')).code, 250, 'the cap is per client IP');
      // The counters live in Redis under the intake's prefix and expire within the hour.
      const keys = await intake.ctx.redis.keys(`{${intake.ctx.config.redisPrefix}}:*smtp*`);
      assert.ok(keys.length >= 2, keys.join(','));
      for (const key of keys) {
        const ttl = await intake.ctx.redis.ttl(key);
        assert.ok(ttl > 0 && ttl <= 3600, `${key} expires (ttl ${ttl})`);
      }
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });

  it('counts bytes per client IP: an announced SIZE over what is left is refused at MAIL FROM, a message that goes over it after DATA, storing nothing', async () => {
    const intake = await startIntake({ maxBytes: 64 * 1024, limits: { bytesPerIpPerHour: 100_000 } });
    try {
      const d = await session(intake);
      assert.equal((await report(d, 'b1', { bodyBytes: 40_000 })).code, 250);
      assert.equal((await report(d, 'b2', { bodyBytes: 40_000 })).code, 250);
      const announced = await d.command('MAIL FROM:<someone@isp.example.org> SIZE=30000');
      assert.equal(announced.code, 450, announced.text);
      assert.match(announced.text, /4\.7\.1/);
      assert.equal((await d.command('RSET')).code, 250);
      const over = await report(d, 'b3', { bodyBytes: 40_000 });
      assert.equal(over.code, 450, over.text);
      assert.match(over.text, /4\.7\.1/);
      assert.equal(await stored(intake), 2, 'the message over the cap is not stored');
      assert.equal((await d.command('MAIL FROM:<someone@isp.example.org>')).code, 450, 'and the address waits for the next hour');
      d.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('is shared by every intake process on the same Redis', async () => {
    const intake = await startIntake({ limits: { messagesPerIpPerHour: 2 } });
    const second = createAbuseSmtpServer(intake.ctx);
    await listenSmtp(second, 0, '127.0.0.1');
    const secondPort = (second.server.address() as AddressInfo).port;
    const open: SmtpDialog[] = [];
    try {
      const a = await session(intake);
      const { dialog: b } = await SmtpDialog.open(secondPort);
      open.push(a, b);
      await b.command('EHLO client.example');
      assert.equal((await report(a, 's1')).code, 250);
      assert.equal((await report(b, 's2')).code, 250);
      assert.equal((await a.command('MAIL FROM:<someone@isp.example.org>')).code, 450);
      assert.equal((await b.command('MAIL FROM:<someone@isp.example.org>')).code, 450);
    } finally {
      open.forEach((d) => d.destroy());
      await new Promise<void>((resolve) => second.close(() => resolve()));
      await intake.stop();
    }
  });

  it('leaves partners alone: authenticated, or sending from a partner\'s client IP range', async () => {
    const intake = await startIntake({ partner: true, partnerIps: ['127.0.0.9/32'], limits: { messagesPerIpPerHour: 1, bytesPerIpPerHour: 5000 } });
    const open: SmtpDialog[] = [];
    try {
      const anon = await session(intake);
      open.push(anon);
      assert.equal((await report(anon, 'p0')).code, 250, 'an unknown sender gets its one message');
      assert.equal((await anon.command('MAIL FROM:<someone@isp.example.org>')).code, 450);
      const authed = await session(intake, undefined, true);
      const byIp = await session(intake, '127.0.0.9');
      open.push(authed, byIp);
      for (let i = 0; i < 3; i++) {
        assert.equal((await report(authed, `pa${i}`, { bodyBytes: 2000 })).code, 250, 'authenticated partner');
        assert.equal((await report(byIp, `pi${i}`, { bodyBytes: 2000 })).code, 250, 'partner by client IP');
      }
      assert.equal(await stored(intake), 7);
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });
});

// Issue 13 review: the intake's connection and message slots could be held by about ten source addresses.
describe('SMTP intake: room kept for partners', () => {
  it('unknown clients hold at most maxClients − reservedForPartners; a partner by client IP takes the rest, past the per-IP cap, up to maxClients', async () => {
    const intake = await startIntake({ partnerIps: ['127.0.0.9'], limits: { maxClients: 4, reservedForPartners: 2, maxConnectionsPerIp: 1 } });
    const open: SmtpDialog[] = [];
    const connect = async (addr: string) => {
      const { dialog, greeting } = await intake.open(addr);
      open.push(dialog);
      return greeting;
    };
    try {
      assert.equal((await connect('127.0.0.1')).code, 220);
      assert.equal((await connect('127.0.0.2')).code, 220);
      const unknown = await connect('127.0.0.3');
      assert.equal(unknown.code, 421, `the reserve is not for unknown clients: ${unknown.text}`);
      assert.equal((await connect('127.0.0.9')).code, 220, 'a partner gets a reserved slot');
      assert.equal((await connect('127.0.0.9')).code, 220, 'and is not held to the per-IP cap');
      const full = await connect('127.0.0.9');
      assert.equal(full.code, 421, `maxClients is the hard total: ${full.text}`);
      open.shift()!.destroy();
      assert.ok(
        await eventually(async () => (await connect('127.0.0.4')).code === 220),
        'a slot an unknown client gave back is given again',
      );
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });

  it('the cap on messages in hand at once does not hold up a partner recognised by client IP', async () => {
    const intake = await startIntake({ partnerIps: ['127.0.0.9'], limits: { maxConcurrentMessages: 1 } });
    const open: SmtpDialog[] = [];
    try {
      const slow = await session(intake);
      open.push(slow);
      await slow.command('MAIL FROM:<someone@isp.example.org>');
      await slow.command('RCPT TO:<abuse@portal.example.net>');
      assert.equal((await slow.command('DATA')).code, 354);
      slow.write('Subject: half a message\r\n');
      const partner = await session(intake, '127.0.0.9');
      open.push(partner);
      const done = await report(partner, 'partner-ip');
      assert.equal(done.code, 250, done.text);
    } finally {
      open.forEach((d) => d.destroy());
      await intake.stop();
    }
  });
});

describe('SMTP intake: AUTH for feedback-loop partners', () => {
  it('without TLS, a loopback partner authenticates in the clear and its report carries the partner name', async () => {
    const intake = await startIntake({ partner: true });
    try {
      const { dialog } = await intake.open();
      assert.match((await dialog.command('EHLO client.example')).text, /AUTH .*PLAIN/);
      const auth = await dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`);
      assert.equal(auth.code, 235, auth.text);
      await dialog.command('MAIL FROM:<fbl@isp.example.org>');
      await dialog.command('RCPT TO:<abuse@portal.example.net>');
      const done = await sendData(dialog, messageFromTenant({ tenant: 'tenant-auth', messageId: '<auth1@shop.example.com>' }));
      const id = /accepted as ([A-Za-z0-9_-]{16})/.exec(done.text)?.[1];
      assert.ok(id, done.text);
      assert.match(JSON.stringify(await intake.ctx.requests.get(id)), /Example FBL/);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('unauthenticated senders are still accepted (anyone may report)', async () => {
    const intake = await startIntake({ partner: true });
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      await dialog.command('MAIL FROM:<someone@isp.example.org>');
      await dialog.command('RCPT TO:<abuse@portal.example.net>');
      const done = await sendData(dialog, messageFromTenant({ tenant: 'tenant-anon', messageId: '<anon1@shop.example.com>' }));
      assert.equal(done.code, 250, done.text);
      const id = /accepted as ([A-Za-z0-9_-]{16})/.exec(done.text)![1]!;
      assert.doesNotMatch(JSON.stringify(await intake.ctx.requests.get(id)), /Example FBL/);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('answers wrong credentials with 535 and, past the per-IP cap, refuses further attempts from that IP only', async () => {
    const intake = await startIntake({ partner: true, limits: { authFailuresPerIp: { max: 2, windowMinutes: 5 } } });
    try {
      const { dialog } = await intake.open();
      await dialog.command('EHLO client.example');
      assert.equal((await dialog.command(`AUTH PLAIN ${plainAuth('fbl-example', 'wrong')}`)).code, 535);
      assert.equal((await dialog.command(`AUTH PLAIN ${plainAuth('nobody', 'wrong')}`)).code, 535);
      const third = await dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`);
      assert.equal(third.code, 421, 'even the right password is not tried once the IP is over the cap');
      assert.ok(await dialog.closesWithin(3000));

      const again = await intake.open();
      await again.dialog.command('EHLO client.example');
      assert.equal((await again.dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`)).code, 421);
      again.dialog.destroy();

      const other = await intake.open('127.0.0.2');
      await other.dialog.command('EHLO client.example');
      assert.equal((await other.dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`)).code, 235);
      other.dialog.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('with TLS configured, AUTH is only offered and accepted after STARTTLS', async () => {
    const intake = await startIntake({ partner: true, tls: true });
    try {
      const { dialog } = await intake.open();
      assert.doesNotMatch((await dialog.command('EHLO client.example')).text, /AUTH/);
      const early = await dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`);
      assert.match(String(early.code), /^5/, early.text);
      assert.equal((await dialog.command('STARTTLS')).code, 220);
      await dialog.upgrade(cert.cert);
      assert.match((await dialog.command('EHLO client.example')).text, /AUTH .*LOGIN/);
      assert.equal((await dialog.command(`AUTH PLAIN ${plainAuth(PARTNER.smtpAuth.username, PARTNER.smtpAuth.password)}`)).code, 235);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });

  it('without configured partner credentials there is no AUTH at all', async () => {
    const intake = await startIntake();
    try {
      const { dialog } = await intake.open();
      assert.doesNotMatch((await dialog.command('EHLO client.example')).text, /AUTH/);
      assert.match(String((await dialog.command(`AUTH PLAIN ${plainAuth('a', 'b')}`)).code), /^5/);
      dialog.destroy();
    } finally {
      await intake.stop();
    }
  });
});

describe('npx postmaster hash-password', () => {
  it('reads a password on stdin and prints a scrypt hash the intake accepts', async () => {
    const run = spawnSync(process.execPath, ['bin/postmaster.js', 'hash-password'], { input: 'a partner password\n', encoding: 'utf8', env: { ...process.env, NODE_ENV: 'test' } });
    assert.equal(run.status, 0, run.stderr);
    const hash = run.stdout.trim();
    assert.match(hash, /^scrypt\$/);
    assert.equal(await verifyPassword('a partner password', hash), true);
    assert.equal(await verifyPassword('a partner password\n', hash), false);
  });

  it('refuses an empty password', () => {
    const run = spawnSync(process.execPath, ['bin/postmaster.js', 'hash-password'], { input: '\n', encoding: 'utf8', env: { ...process.env, NODE_ENV: 'test' } });
    assert.notEqual(run.status, 0);
    assert.equal(run.stdout, '');
  });
});

describe('the smtp role (npm run start:smtp)', () => {
  const cleanup = async (prefix: string) => {
    const redis = createRedis(REDIS_URL, 'cli');
    await deleteByPattern(redis, createKeys(prefix).all);
    await redis.quit();
  };

  it('refuses to start without ABUSE_SMTP_PORT, exit 78 naming the key', async () => {
    const p = startRole('src/smtp-main.ts', { REDIS_URL, REDIS_PREFIX: `pm-test-smtp-${randomBytes(4).toString('hex')}`, ABUSE_SMTP_PORT: '' });
    assert.equal(await p.exited, 78);
    assert.match(p.output(), /ABUSE_SMTP_PORT/);
    assert.doesNotMatch(p.output(), /\n\s+at /, 'no stack trace');
  });

  it('runs as its own process; resets and broken STARTTLS do not kill it; stops on SIGTERM', async () => {
    const prefix = `pm-test-smtp-${randomBytes(4).toString('hex')}`;
    const port = await freePort();
    const p = startRole('src/smtp-main.ts', { REDIS_URL, REDIS_PREFIX: prefix, HOST: '127.0.0.1', ABUSE_SMTP_PORT: String(port), ABUSE_SMTP_TLS_KEY: cert.keyFile, ABUSE_SMTP_TLS_CERT: cert.certFile });
    try {
      await p.waitFor(/abuse SMTP intake listening/);
      for (let i = 0; i < 3; i++) {
        const { dialog } = await SmtpDialog.open(port);
        await dialog.command('EHLO client.example');
        await dialog.command('MAIL FROM:<fbl@isp.example.org>');
        (dialog.socket as net.Socket).resetAndDestroy();
        await dialog.closed;
      }
      const { dialog } = await SmtpDialog.open(port);
      await dialog.command('EHLO client.example');
      assert.equal((await dialog.command('STARTTLS')).code, 220);
      dialog.write('not a handshake\r\n\r\n');
      await dialog.closesWithin(3000);

      const { dialog: next, greeting } = await SmtpDialog.open(port);
      assert.equal(greeting.code, 220);
      next.destroy();
      assert.equal(p.child.exitCode, null, 'still running');
      assert.match(p.output(), /ECONNRESET/);
      p.child.kill('SIGTERM');
      assert.equal(await p.exited, 0);
    } finally {
      await p.kill('SIGKILL');
      await cleanup(prefix);
    }
  });

  it('npm start (development, all in one process) still runs the intake when ABUSE_SMTP_PORT is set, and a reset does not end it', async () => {
    const prefix = `pm-test-smtp-${randomBytes(4).toString('hex')}`;
    const [webPort, smtpPort] = [await freePort(), await freePort()];
    const p = startRole('src/main.ts', { REDIS_URL, REDIS_PREFIX: prefix, HOST: '127.0.0.1', PORT: String(webPort), ABUSE_SMTP_PORT: String(smtpPort), SMTP_URL: '' });
    try {
      await p.waitFor(/abuse SMTP intake listening/);
      const { dialog } = await SmtpDialog.open(smtpPort);
      await dialog.command('EHLO client.example');
      await dialog.command('MAIL FROM:<fbl@isp.example.org>');
      (dialog.socket as net.Socket).resetAndDestroy();
      await dialog.closed;
      const { dialog: next, greeting } = await SmtpDialog.open(smtpPort);
      assert.equal(greeting.code, 220);
      next.destroy();
      assert.deepEqual(await (await fetch(`http://127.0.0.1:${webPort}/healthz`)).json(), { ok: true });
      assert.equal(p.child.exitCode, null, 'still running');
    } finally {
      await p.kill('SIGKILL');
      await cleanup(prefix);
    }
  });

  it('the web role no longer runs the intake, even with ABUSE_SMTP_PORT set', async () => {
    const prefix = `pm-test-smtp-${randomBytes(4).toString('hex')}`;
    const [webPort, smtpPort] = [await freePort(), await freePort()];
    const p = startRole('src/server.ts', { REDIS_URL, REDIS_PREFIX: prefix, HOST: '127.0.0.1', PORT: String(webPort), ABUSE_SMTP_PORT: String(smtpPort) });
    try {
      await p.waitFor(/web listening/);
      const refused = await new Promise<boolean>((resolve) => {
        const s = net.connect(smtpPort, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(false);
        });
        s.once('error', () => resolve(true));
      });
      assert.equal(refused, true);
    } finally {
      await p.kill('SIGKILL');
      await cleanup(prefix);
    }
  });
});
