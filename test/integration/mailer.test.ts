import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createMailer, readOutbox } from '../../src/mail/mailer.js';
import { testContext } from '../helpers/context.js';

describe('mailer', () => {
  it('delivers through a loopback relay that offers STARTTLS with a self-signed certificate', async () => {
    const received: string[] = [];
    const server = new SMTPServer({
      authOptional: true,
      logger: false,
      hideSTARTTLS: false,
      onData(stream, _session, cb) {
        let raw = '';
        stream.on('data', (d: Buffer) => (raw += d.toString()));
        stream.on('end', () => {
          received.push(raw);
          cb();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ctx = testContext();
    try {
      const url = `smtp://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
      const mailer = createMailer({ smtpUrl: url, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
      await mailer.send({ to: 'x@example.com', subject: 'Hello', text: 'plain', html: '<p>html</p>' });
      mailer.close();
      assert.equal(received.length, 1);
      assert.match(received[0]!, /Subject: Hello/);
    } finally {
      await ctx.cleanup();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('keeps mail in the dev outbox when no SMTP_URL is set, long lines folded on the wire', async () => {
    const ctx = testContext();
    try {
      const mailer = createMailer({ smtpUrl: undefined, from: ctx.config.mailFrom, redis: ctx.redis, keys: ctx.keys });
      const link = `http://portal.example.net/delist/confirm/${'x'.repeat(90)}`;
      await mailer.send({ to: 'dev@example.com', subject: 'Kept', text: `a body\n${link}\n`, html: `<p><a href="${link}">a body</a></p>` });
      const [m] = await readOutbox(ctx.redis, ctx.keys);
      assert.equal(m?.to, 'dev@example.com');
      assert.equal(m!.text, `a body\n${link}\n`);
      for (const line of m!.raw.split('\r\n')) assert.ok(line.length <= 78, `line of ${line.length}`);
    } finally {
      await ctx.cleanup();
    }
  });
});
