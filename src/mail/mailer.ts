import nodemailer, { type Transporter } from 'nodemailer';
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';

export interface OutgoingMail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** The ticket's reply address (src/domain/reply-address.ts), on mails about a ticket. */
  replyTo?: string;
}

export interface OutboxMessage {
  at: string;
  to: string;
  subject: string;
  text: string;
  raw: string;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

const OUTBOX_KEEP = 200;

/**
 * SMTP when SMTP_URL is set; otherwise the dev outbox (a capped Redis list shown at /dev/outbox).
 * Both bodies are quoted-printable, so no line on the wire is longer than 76 characters.
 */
export function createMailer(opts: { smtpUrl: string | undefined; from: string; redis: Redis; keys: Keys }): Mailer {
  const base = { from: opts.from, textEncoding: 'quoted-printable' as const };
  if (opts.smtpUrl) {
    // A relay on loopback has no network hop to protect: accept its (usually self-signed) STARTTLS certificate.
    const loopback = ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(opts.smtpUrl).hostname);
    const transport: Transporter = nodemailer.createTransport({ url: opts.smtpUrl, ...(loopback && { tls: { rejectUnauthorized: false } }) });
    return {
      async send(mail) {
        await transport.sendMail({ ...base, ...mail });
      },
      close: () => transport.close(),
    };
  }
  const builder = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: '\r\n' });
  return {
    async send(mail) {
      const info = await builder.sendMail({ ...base, ...mail });
      const entry: OutboxMessage = { at: new Date().toISOString(), to: mail.to, subject: mail.subject, text: mail.text, raw: (info.message as Buffer).toString('utf8') };
      await opts.redis.multi().lpush(opts.keys.outbox, JSON.stringify(entry)).ltrim(opts.keys.outbox, 0, OUTBOX_KEEP - 1).exec();
    },
    close: () => builder.close(),
  };
}

/** The dev outbox's newest messages first. */
export async function readOutbox(redis: Redis, keys: Keys, limit = 50): Promise<OutboxMessage[]> {
  return (await redis.lrange(keys.outbox, 0, limit - 1)).map((v) => JSON.parse(v) as OutboxMessage);
}
