import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { Context } from '../context.js';
import { hashPassword, verifyPassword } from '../domain/passwords.js';
import { reporterByTransport } from '../domain/report-trust.js';
import { AppError } from '../errors.js';
import { submitMachineReport } from '../features/report/service.js';
import { fileMailAnswer } from '../features/contact/answers.js';
import { readReplyAddress } from '../domain/reply-address.js';
import { ParseBudgetError, ParsePoolBusyError } from '../parse/pool.js';
import { ClientHourQuota, clientKey, ConnectionCounter, FailureWindow, isLoopback } from './limits.js';

/** An SMTP answer with its code: smtp-server sends `responseCode` and the message to the client. */
const reply = (code: number, message: string) => Object.assign(new Error(message), { responseCode: code });

/**
 * Commands the intake never runs. VRFY would answer 252 and EXPN has nothing to expand; WIZ, SHELL and KILL are
 * smtp-server's sendmail jokes. A disabled command is answered "500 command not recognized".
 */
const ALWAYS_DISABLED = ['VRFY', 'EXPN', 'WIZ', 'SHELL', 'KILL'];

/** After this much past the session lifetime a socket is destroyed whatever state it is in (a TLS handshake, a half-close). */
const HARD_STOP_GRACE_MS = 10_000;

/**
 * Where SMTP AUTH may be used. Decision: a partner's password never crosses a network in the clear. With a
 * certificate configured (ABUSE_SMTP_TLS_KEY/CERT), AUTH is offered and accepted only inside TLS, after STARTTLS.
 * Without one, it is offered only to a loopback peer (a local MTA relaying for us, or a development client), where
 * no network sees the password. Everyone else gets no AUTH at all, and reports as an unauthenticated (untrusted)
 * sender, which is always allowed.
 */
export function authAllowed(s: { tlsConfigured: boolean; secure: boolean; remoteAddress: string }): boolean {
  return s.tlsConfigured ? s.secure : isLoopback(s.remoteAddress);
}

interface Connection {
  key: string;
  timer: NodeJS.Timeout;
  /** The client IP is in a partner's clientIps: no per-IP or hourly caps, and the reserved slots are open to it. */
  partner: boolean;
}

/**
 * The SMTP intake for feedback-loop partners: ARF (or plain) reports mailed to one of the intake addresses go to
 * the same use case and queue as `POST /api/v1/reports`. A report we cannot use is refused in the SMTP dialogue,
 * so the partner's MTA tells it why; nothing is stored then. The same listener takes requesters' answers to staff
 * mails: a recipient that is a ticket's reply address (src/domain/reply-address.ts) with the right code is filed in
 * that ticket (`fileMailAnswer`, read on the parser pool); one with a wrong code, or of a ticket that does not exist,
 * is refused with 550 at RCPT. One message goes either to the report addresses or to one ticket.
 *
 * Nothing a client does may take the process down: every connection error is logged and ends only that
 * connection. Limits (policy `abuse.smtp`): connections in all and per client IP, an idle timeout and an absolute
 * session lifetime, RCPTs per transaction, AUTH failures per client IP, unauthenticated messages in hand at once;
 * messages over `samples.maxBytes` are refused at MAIL FROM when announced (SIZE=) and otherwise after DATA, without
 * keeping more than the limit in memory.
 *
 * Senders that are no partner (neither authenticated nor from a partner's clientIps) also have an hourly budget per
 * client IP (IPv6: per /64) of messages and bytes, counted in Redis so that every intake process shares it; past it
 * MAIL FROM, or a message that went over it at the end of DATA, is answered 450 4.7.1 and nothing is stored. Partners
 * recognised by client IP are known at connect time: they are not held to the per-IP connection cap, and the last
 * `reservedForPartners` of the `maxClients` connections are theirs alone. (A partner that authenticates is only known
 * after AUTH, so it connects like anyone else; from then on no hourly or in-hand cap applies to it.)
 */
export function createAbuseSmtpServer(ctx: Context): SMTPServer {
  const limits = ctx.policy.abuse.smtp;
  const recipients = new Set(ctx.policy.abuse.intakeRecipients.map((a) => a.toLowerCase()));
  const maxBytes = ctx.policy.samples.maxBytes;
  const tls = ctx.config.abuseSmtpTls;
  const partners = ctx.policy.partners.flatMap((p) => (p.smtpAuth ? [{ name: p.name, ...p.smtpAuth }] : []));
  const disabled = [...ALWAYS_DISABLED, ...(tls ? [] : ['STARTTLS']), ...(partners.length ? [] : ['AUTH'])];
  const log = ctx.logger.child({ component: 'smtp-intake' });

  const perClient = new ConnectionCounter();
  const quota = new ClientHourQuota(ctx.redis, (counter, client) => ctx.keys.smtpClientHour(counter, client));
  const partnerByIp = (remoteAddress: string) => reporterByTransport(ctx.policy.partners, { channel: 'smtp', clientIp: remoteAddress }).level === 'partner';
  /** Connections clients other than partners (by IP) may hold together; the rest of maxClients is the partners' reserve. */
  const unknownMax = Math.max(0, limits.maxClients - limits.reservedForPartners);
  let unknownOpen = 0;
  /** A partner: authenticated (session.user is set by onAuth for partners only), or recognised by client IP. */
  const isPartner = (session: SMTPServerSession) => typeof session.user === 'string' || connections.get(session.id)?.partner === true;
  const overQuota = (fields: Record<string, unknown>, why: string) => {
    log.info({ ...fields, why }, 'smtp report refused: hourly quota of this client used');
    return reply(450, '4.7.1 Too many reports from your address this hour, try again later');
  };
  const authFailures = new FailureWindow(limits.authFailuresPerIp.max, limits.authFailuresPerIp.windowMinutes * 60_000);
  const connections = new Map<string, Connection>(); // by session id
  let receiving = 0; // messages of unauthenticated senders in hand (DATA to answer)
  const rcptCounts = new WeakMap<object, number>(); // by envelope: smtp-server makes a new one for each transaction
  // What a transaction delivers to (by envelope): abuse reports (an intake address), or one ticket's answer (its reply
  // address, src/domain/reply-address.ts). One message is one or the other, and answers one ticket.
  const targets = new WeakMap<object, { kind: 'report' } | { kind: 'answer'; ticketId: string }>();
  const addressing = { secret: ctx.config.secret, domain: ctx.config.replyDomain };
  // An unknown user name costs the same scrypt run as a known one, so answers do not tell which names exist.
  const decoyHash = partners.length ? hashPassword(randomBytes(16).toString('hex')) : null;
  decoyHash?.catch(() => {}); // awaited (and any failure met) in checkPartner; never an unhandled rejection

  /** The partner these credentials belong to, or null. */
  const checkPartner = async (username: string, password: string) => {
    const partner = partners.find((p) => p.username === username);
    const ok = await verifyPassword(password, partner ? partner.passwordHash : await decoyHash!);
    return ok && partner ? partner : null;
  };

  const endSession = (id: string) => {
    for (const c of server.connections) {
      if (c.session.id !== id) continue;
      log.info({ remoteAddress: c.remoteAddress, seconds: limits.sessionSeconds }, 'smtp session lifetime reached, closing');
      c.send(421, `${c.name} 4.4.2 Session time limit reached, closing connection`);
    }
  };

  const server: SMTPServer = new SMTPServer({
    name: new URL(ctx.config.publicUrl).hostname,
    banner: 'Postmaster Portal abuse report intake',
    authOptional: true,
    authMethods: ['PLAIN', 'LOGIN'],
    disabledCommands: disabled,
    ...(tls && { key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' as const }),
    size: maxBytes,
    rejectOversized: true,
    logger: false,
    disableReverseLookup: true, // the PTR name is the client's to choose and we never use it; no DNS per connection
    maxClients: limits.maxClients, // the hard total; the partners' reserve within it is kept in onConnect
    socketTimeout: limits.idleTimeoutSeconds * 1000,
    closeTimeout: 5000,
    onConnect(session, callback) {
      const key = clientKey(session.remoteAddress);
      const partner = partnerByIp(session.remoteAddress);
      if (connections.size >= limits.maxClients || (!partner && unknownOpen >= unknownMax)) {
        log.info({ remoteAddress: session.remoteAddress, open: connections.size, partner }, 'smtp connection refused: too many connections');
        return callback(reply(421, '4.7.0 Too many connections, try again in a moment'));
      }
      if (!partner && !perClient.take(key, limits.maxConnectionsPerIp)) {
        log.info({ remoteAddress: session.remoteAddress, open: perClient.count(key) }, 'smtp connection refused: too many from this client');
        return callback(reply(421, '4.7.0 Too many connections from your address, try again later'));
      }
      if (!partner) unknownOpen++;
      const timer = setTimeout(() => endSession(session.id), limits.sessionSeconds * 1000);
      timer.unref();
      connections.set(session.id, { key, timer, partner });
      if (!authAllowed({ tlsConfigured: !!tls, secure: session.secure, remoteAddress: session.remoteAddress })) session.disabledCommands = [...disabled, 'AUTH'];
      callback();
    },
    onSecure(_socket, session, callback) {
      session.disabledCommands = disabled; // inside TLS: AUTH as configured
      callback();
    },
    onClose(session) {
      const c = connections.get(session.id);
      if (!c) return;
      clearTimeout(c.timer);
      if (!c.partner) {
        perClient.release(c.key);
        unknownOpen--;
      }
      connections.delete(session.id);
    },
    onAuth(auth, session, callback) {
      const key = clientKey(session.remoteAddress);
      if (authFailures.blocked(key)) {
        log.warn({ remoteAddress: session.remoteAddress }, 'smtp auth refused: too many failures from this client');
        return callback(reply(421, '4.7.0 Too many failed authentications from your address, try again later'));
      }
      // PLAIN may ask to act as another identity (authzid); a partner only ever acts as itself.
      const actsAsOther = !!auth.authzid && !!auth.authcid && auth.authzid !== auth.authcid;
      checkPartner(actsAsOther ? '' : (auth.username ?? ''), auth.password ?? '').then(
        (partner) => {
          if (partner) {
            log.info({ remoteAddress: session.remoteAddress, partner: partner.name }, 'smtp partner authenticated');
            return callback(null, { user: partner.name });
          }
          authFailures.record(key);
          log.warn({ remoteAddress: session.remoteAddress }, 'smtp auth failed');
          callback(reply(535, '5.7.8 Authentication credentials invalid'));
        },
        (err: unknown) => {
          log.error({ err }, 'smtp auth check failed');
          callback(reply(454, '4.7.0 Temporary authentication failure'));
        },
      );
    },
    onMailFrom(address, session, callback) {
      if (isPartner(session)) return callback();
      const args = address.args as Record<string, string> | false | undefined;
      const announced = (args && Number(args.SIZE)) || 0; // SIZE= as announced (smtp-server checked its form)
      quota.usage(clientKey(session.remoteAddress)).then(
        (used) => {
          if (used.messages >= limits.messagesPerIpPerHour) return callback(overQuota({ remoteAddress: session.remoteAddress, ...used }, 'messages'));
          if (used.bytes >= limits.bytesPerIpPerHour || used.bytes + announced > limits.bytesPerIpPerHour) return callback(overQuota({ remoteAddress: session.remoteAddress, ...used, announced }, 'bytes'));
          callback();
        },
        (err: unknown) => {
          log.error({ err }, 'smtp quota check failed');
          callback(reply(451, '4.3.0 Temporary failure, try again later'));
        },
      );
    },
    onRcptTo(address, session, callback) {
      // Every RCPT counts, accepted or not, repeated or not: a report goes to one intake address.
      const n = (rcptCounts.get(session.envelope) ?? 0) + 1;
      rcptCounts.set(session.envelope, n);
      if (n > limits.maxRecipients) return callback(reply(452, '4.5.3 Too many recipients'));
      const target = targets.get(session.envelope);
      const answerTo = readReplyAddress(addressing, address.address);
      if (answerTo.kind === 'forged') {
        log.info({ remoteAddress: session.remoteAddress, rcpt: address.address.slice(0, 100) }, 'smtp answer refused: reply address with a wrong code');
        return callback(reply(550, `5.1.1 <${address.address}>: no such mailbox here`));
      }
      if (answerTo.kind === 'ticket') {
        if (target && (target.kind !== 'answer' || target.ticketId !== answerTo.ticketId)) return callback(reply(452, '4.5.3 Send this recipient in a message of its own'));
        return void ctx.tickets.get(answerTo.ticketId).then(
          (ticket) => {
            if (!ticket) return callback(reply(550, `5.1.1 <${address.address}>: no such mailbox here`));
            targets.set(session.envelope, { kind: 'answer', ticketId: ticket.id });
            callback();
          },
          (err: unknown) => {
            log.error({ err }, 'smtp ticket lookup failed');
            callback(reply(451, '4.3.0 Temporary failure, try again later'));
          },
        );
      }
      if (!recipients.has(address.address.toLowerCase())) return callback(reply(550, `5.1.1 <${address.address}>: no such mailbox here; send reports to ${[...recipients][0]}`));
      if (target?.kind === 'answer') return callback(reply(452, '4.5.3 Send this recipient in a message of its own'));
      targets.set(session.envelope, { kind: 'report' });
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      // Each message in hand may hold samples.maxBytes: senders that are no partner get a bounded number of them at
      // once (the rest 451, their bytes drained unread), so memory stays bounded; partners (by AUTH or client IP) are
      // not held up.
      const counted = !isPartner(session);
      if (counted && receiving >= limits.maxConcurrentMessages) {
        log.info({ remoteAddress: session.remoteAddress, receiving }, 'smtp report deferred: too many arriving at once');
        return callback(reply(451, '4.3.2 Too many reports arriving at once, try again in a moment'));
      }
      if (counted) receiving++;
      const chunks: Buffer[] = [];
      let size = 0;
      let ended = false;
      let answered = false;
      const answer = (err: Error | null, message?: string) => {
        if (answered) return;
        answered = true;
        if (counted) receiving--;
        callback(err, message);
      };
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxBytes) chunks.push(chunk);
        else chunks.length = 0; // over the limit: keep nothing, just read to the end for the 552
      });
      stream.on('error', (err) => answer(err));
      stream.on('close', () => ended || answer(reply(451, '4.3.0 Message not received in full')));
      stream.on('end', () => {
        ended = true;
        // Every message of a sender that is no partner counts against its hourly quota, with all the bytes it sent
        // (also one refused below); one that takes the total over a cap is refused and not stored.
        const counting = counted ? quota.add(clientKey(session.remoteAddress), size) : Promise.resolve(null);
        counting
          .then((used) => {
            if (stream.sizeExceeded || size > maxBytes) return answer(reply(552, `5.3.4 Report larger than ${maxBytes} bytes`));
            if (used && used.messages > limits.messagesPerIpPerHour) return answer(overQuota({ remoteAddress: session.remoteAddress, ...used }, 'messages'));
            if (used && used.bytes > limits.bytesPerIpPerHour) return answer(overQuota({ remoteAddress: session.remoteAddress, ...used }, 'bytes'));
            const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
            const raw = Buffer.concat(chunks);
            chunks.length = 0;
            const target = targets.get(session.envelope);
            if (target?.kind === 'answer') {
              // A requester's answer to a ticket: read on the parser pool (postal-mime, bounded) and filed in the ticket.
              return fileMailAnswer(ctx, target.ticketId, raw, { clientIp: session.remoteAddress, mailFrom: from }).then(
                ({ ticketId, reopened }) => {
                  log.info({ remoteAddress: session.remoteAddress, ticketId, reopened, bytes: size }, 'smtp answer filed in its ticket');
                  answer(null, `2.0.0 Answer filed in ticket ${ticketId}`);
                },
                (err: unknown) => {
                  if (err instanceof ParseBudgetError) return answer(reply(554, `5.6.0 ${err.message.slice(0, 300)}`));
                  if (err instanceof ParsePoolBusyError) return answer(reply(451, '4.3.2 Too many messages arriving at once, try again in a moment'));
                  if (err instanceof AppError && err.status < 500) return answer(reply(550, `5.1.1 ${err.message.slice(0, 300)}`));
                  throw err;
                },
              );
            }
            return submitMachineReport(ctx, raw, { channel: 'smtp', clientIp: session.remoteAddress, mailFrom: from, ...(typeof session.user === 'string' && { smtpUser: session.user }) }).then(
              ({ id }) => answer(null, `2.0.0 Report accepted as ${id}`),
              (err: unknown) => {
                if (err instanceof AppError && err.status < 500) return answer(reply(554, `5.6.0 ${err.code}: ${err.message.replace(/\s+/g, ' ').slice(0, 300)}`));
                throw err;
              },
            );
          })
          .catch((err: unknown) => {
            log.error({ err }, 'smtp intake failed');
            answer(reply(451, '4.3.0 Temporary failure, try again later'));
          })
          .finally(() => (chunks.length = 0));
      });
    },
  });

  // smtp-server reports a connection's socket errors (a reset in a transaction, a failed TLS handshake) as an
  // 'error' event of the server; without a listener that event would throw and end the process.
  server.on('error', (err: Error & { code?: string; remoteAddress?: string }) => {
    if (err.remoteAddress) log.warn({ remoteAddress: err.remoteAddress, code: err.code, error: err.message }, 'smtp connection error');
    else log.error({ code: err.code, error: err.message }, 'smtp server error');
  });
  // The hard stop behind the session lifetime: covers every socket, also one that never reached an SMTP session.
  server.server.on('connection', (socket: Socket) => {
    const stop = setTimeout(() => socket.destroy(), limits.sessionSeconds * 1000 + HARD_STOP_GRACE_MS);
    stop.unref();
    socket.once('close', () => clearTimeout(stop));
  });
  return server;
}

/** Listens on the port; resolves once bound. */
export function listenSmtp(server: SMTPServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting; open sessions get 421 after smtp-server's closeTimeout (5 s here), then the promise resolves. */
export function closeSmtp(server: SMTPServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
