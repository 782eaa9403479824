import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Context } from '../context.js';
import { AppError } from '../errors.js';
import { submitMachineReport } from '../features/report/service.js';

/** An SMTP answer with its code: smtp-server sends `responseCode` and the message to the client. */
const reply = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

/**
 * The SMTP intake for feedback-loop partners: ARF (or plain) reports mailed to one of the intake addresses go to
 * the same use case and queue as `POST /api/v1/reports`. A report we cannot use is refused in the SMTP dialogue,
 * so the partner's MTA tells it why; nothing is stored then.
 */
export function createAbuseSmtpServer(ctx: Context): SMTPServer {
  const recipients = new Set(ctx.policy.abuse.intakeRecipients.map((a) => a.toLowerCase()));
  const maxBytes = ctx.policy.samples.maxBytes;
  return new SMTPServer({
    name: new URL(ctx.config.publicUrl).hostname,
    banner: 'Postmaster Portal abuse report intake',
    authOptional: true,
    disabledCommands: ['AUTH'],
    hideSTARTTLS: true,
    size: maxBytes,
    logger: false,
    maxClients: 50,
    onRcptTo(address, _session, callback) {
      if (!recipients.has(address.address.toLowerCase())) return callback(reply(550, `5.1.1 <${address.address}>: no such mailbox here; send reports to ${[...recipients][0]}`));
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxBytes) chunks.push(chunk);
      });
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        if (stream.sizeExceeded || size > maxBytes) return callback(reply(552, `5.3.4 Report larger than ${maxBytes} bytes`));
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        submitMachineReport(ctx, Buffer.concat(chunks), { channel: 'smtp', clientIp: session.remoteAddress, mailFrom: from, ...(typeof session.user === 'string' && { smtpUser: session.user }) })
          .then(({ id }) => callback(null, `2.0.0 Report accepted as ${id}`))
          .catch((err: unknown) => {
            if (err instanceof AppError && err.status < 500) return callback(reply(554, `5.6.0 ${err.code}: ${err.message.replace(/\s+/g, ' ').slice(0, 300)}`));
            ctx.logger.error({ err }, 'smtp intake failed');
            callback(reply(451, '4.3.0 Temporary failure, try again later'));
          });
      });
    },
  });
}

/** Listens on the port; resolves once bound. */
export function listenSmtp(server: SMTPServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}
