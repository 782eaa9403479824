import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';

/** A TCP port written as plain decimal digits ("0x50" or " " are refused, not read as 80 or 0). */
const port = z.string().regex(/^\d{1,5}$/, 'must be a port number (digits only)').transform(Number).pipe(z.number().max(65535));

/** Every environment key the portal reads, documented once; parsed at start-up and never again. */
const envShape = z.object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development').describe('Runtime mode; production refuses dev defaults.'),
    PORT: port.default(3000).describe('HTTP port of the web role.'),
    HOST: z.string().default('0.0.0.0').describe('Address the web role binds to.'),
    REDIS_URL: z.string().url().optional().describe('Redis to use. Unset: 127.0.0.1:6379, started from PATH with AOF under ./var/redis when nothing answers.'),
    REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and :_.- only').default('pm').describe('Prefix of every Redis key, BullMQ included (hash-tagged: {pm}:...).'),
    PUBLIC_URL: z.string().url().optional().describe('Base URL used in mails and exports. Default: http://localhost:PORT.'),
    SMTP_URL: z.string().url().optional().describe('Outgoing mail server (smtp:// or smtps://). Unset: mail goes to the dev outbox page /dev/outbox (never in production).'),
    MAIL_FROM: z.string().min(3).default('Postmaster Portal <postmaster@portal.example.net>').describe('From: header of outgoing mail.'),
    SESSION_SECRET: z.string().min(32, 'at least 32 characters').optional().describe('Secret for CSRF tokens, challenge links and sessions. Required in production.'),
    SNAPSHOT_SIGNING_KEY: z.string().optional().describe('Ed25519 key signing routing snapshots: PKCS#8 PEM or base64 32-byte seed. Default: derived from SESSION_SECRET.'),
    POLICY_FILE: z.string().optional().describe('Path of the policy JSON file. Default: src/policy.json.'),
    ABUSE_SMTP_PORT: port.optional().describe('Port of the SMTP intake for ARF abuse reports (issue 3).'),
    ABUSE_SMTP_TLS_KEY: z.string().optional().describe('PEM private key file for STARTTLS on the SMTP intake; with ABUSE_SMTP_TLS_CERT (both or neither). Neither: no STARTTLS.'),
    ABUSE_SMTP_TLS_CERT: z.string().optional().describe('PEM certificate file (chain) for STARTTLS on the SMTP intake; with ABUSE_SMTP_TLS_KEY.'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
    WORKER_LOCK_MS: z.string().regex(/^\d{3,7}$/, 'milliseconds').transform(Number).default(30000).describe('How long a worker holds a job before another may take it over if the first died (BullMQ lockDuration).'),
    TRUST_PROXY: z.string().default('loopback').describe('express "trust proxy" setting, so rate limits see the real client IP behind a proxy.'),
});

/** Keys production cannot do without; checked on the raw environment so they are reported with any other error. */
const REQUIRED_IN_PRODUCTION: Record<string, string> = {
  SESSION_SECRET: 'is required in production',
  SMTP_URL: 'is required in production (the dev outbox is never used there)',
  REDIS_URL: 'is required in production',
};

export type Env = z.infer<typeof envShape>;

export interface Config {
  env: Env['NODE_ENV'];
  port: number;
  host: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  publicUrl: string;
  smtpUrl: string | undefined;
  mailFrom: string;
  secret: string;
  policyFile: string | undefined;
  snapshotSigningKey: string | undefined;
  abuseSmtpPort: number | undefined;
  /** STARTTLS key pair of the SMTP intake (PEM text, read at start); absent: STARTTLS refused. */
  abuseSmtpTls?: { key: string; cert: string };
  logLevel: Env['LOG_LEVEL'];
  trustProxy: string;
  workerLockMs: number;
}

/** A fixed development secret, so separately started dev roles agree on challenge links; refused in production. */
const DEV_SECRET = 'dev-only-secret-never-use-in-production-0123456789';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/** Parses the environment once; throws ConfigError listing every bad key. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const blanksRemoved = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const parsed = envShape.safeParse(blanksRemoved);
  const lines = parsed.success ? [] : parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  if (blanksRemoved.NODE_ENV === 'production') {
    for (const [key, message] of Object.entries(REQUIRED_IN_PRODUCTION)) if (!blanksRemoved[key]) lines.push(`  ${key}: ${message}`);
  }
  const abuseSmtpTls = readSmtpTls(blanksRemoved, lines);
  if (!parsed.success || lines.length) throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    publicUrl: (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    secret: e.SESSION_SECRET ?? DEV_SECRET,
    policyFile: e.POLICY_FILE,
    snapshotSigningKey: e.SNAPSHOT_SIGNING_KEY,
    abuseSmtpPort: e.ABUSE_SMTP_PORT,
    ...(abuseSmtpTls && { abuseSmtpTls }),
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    workerLockMs: e.WORKER_LOCK_MS,
  };
}

/** Reads the SMTP intake's STARTTLS key pair (PEM files, both or neither); each problem becomes a line of the config error. */
function readSmtpTls(env: Record<string, string | undefined>, lines: string[]): { key: string; cert: string } | undefined {
  const files = { ABUSE_SMTP_TLS_KEY: env.ABUSE_SMTP_TLS_KEY, ABUSE_SMTP_TLS_CERT: env.ABUSE_SMTP_TLS_CERT };
  if (!files.ABUSE_SMTP_TLS_KEY && !files.ABUSE_SMTP_TLS_CERT) return undefined;
  const read = (name: keyof typeof files): string | undefined => {
    const file = files[name];
    if (!file) {
      lines.push(`  ${name}: is required when ${name === 'ABUSE_SMTP_TLS_KEY' ? 'ABUSE_SMTP_TLS_CERT' : 'ABUSE_SMTP_TLS_KEY'} is set (both or neither)`);
      return undefined;
    }
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      lines.push(`  ${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return undefined;
    }
  };
  const key = read('ABUSE_SMTP_TLS_KEY');
  const cert = read('ABUSE_SMTP_TLS_CERT');
  if (key === undefined || cert === undefined) return undefined;
  try {
    createSecureContext({ key, cert });
  } catch (err) {
    lines.push(`  ABUSE_SMTP_TLS_CERT: ${files.ABUSE_SMTP_TLS_CERT} with ABUSE_SMTP_TLS_KEY is not a usable PEM key pair (${(err as Error).message})`);
    return undefined;
  }
  return { key, cert };
}

/** The documented keys, for the README and `--help`. */
export function describeConfig(): Array<{ key: string; description: string }> {
  return Object.entries(envShape.shape).map(([key, s]) => ({ key, description: s.description ?? '' }));
}
