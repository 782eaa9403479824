import { pino, type Logger } from 'pino';

export type { Logger };

/** One pino logger per process; personal data (emails, tokens) is redacted from structured fields. */
export function createLogger(level: string, role: string): Logger {
  return pino({
    level,
    base: { role },
    redact: { paths: ['email', '*.email', 'token', '*.token', 'req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
  });
}
