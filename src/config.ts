import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { signingKeyFrom, SigningKeyError } from './domain/signing.js';

/** A TCP port written as plain decimal digits ("0x50" or " " are refused, not read as 80 or 0). */
const port = z.string().regex(/^\d{1,5}$/, 'must be a port number (digits only)').transform(Number).pipe(z.number().max(65535));

/** An address the web role can bind to: an IP address as written (no name lookup), or `localhost`. */
const isBindable = (host: string) => host === 'localhost' || isIP(host) !== 0;

/** True for a HOST only this machine can reach: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  if (!isIP(host)) return false;
  try {
    return ipaddr.process(host.replace(/%.*$/, '')).range() === 'loopback';
  } catch {
    return false;
  }
}

/**
 * TRUST_PROXY as express's `trust proxy` takes it: `true`/`false`, a hop count, or a comma-separated list of
 * addresses, CIDR ranges and the names loopback, linklocal, uniquelocal. Anything else is refused here, at start-up
 * (express would throw on it when the app is built).
 */
const trustProxy = z.string().transform((raw, ctx): boolean | number | string[] => {
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  if (/^\d{1,3}$/.test(value)) return Number(value);
  const items = value.split(',').map((i) => i.trim());
  const bad = items.filter((item) => {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(item)) return false;
    const [addr = '', len, ...rest] = item.split('/');
    if (rest.length || !isIP(addr)) return true;
    return len !== undefined && !(/^\d{1,3}$/.test(len) && Number(len) <= (isIP(addr) === 4 ? 32 : 128));
  });
  if (bad.length) ctx.addIssue({ code: 'custom', message: `cannot read ${bad.map((b) => JSON.stringify(b)).join(', ')}: use true, false, a hop count, or addresses and CIDR ranges (and loopback, linklocal, uniquelocal) separated by commas` });
  return items;
});

/** Every environment key the portal reads, documented once; parsed at start-up and never again. */
const envShape = z.object({
    NODE_ENV: z.enum(['development', 'test', 'production']).optional().describe('Runtime mode. Unset: development for `npm start` and the CLI, production for a role started on its own (start:web, start:worker). Production refuses every development default.'),
    PORT: port.default(3000).describe('HTTP port of the web role.'),
    HOST: z.string().refine(isBindable, 'must be an IP address (such as 127.0.0.1, 0.0.0.0 or ::) or localhost').optional().describe('Address the web role binds to. Default: 127.0.0.1 (loopback), in production 0.0.0.0.'),
    REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional().describe('Redis to use. Unset: 127.0.0.1:6379, started from PATH with AOF under ./var/redis when nothing answers.'),
    REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, 'letters, digits and :_.- only').default('pm').describe('Prefix of every Redis key, BullMQ included (hash-tagged: {pm}:...).'),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' }).optional().describe('PostgreSQL, the system of record. Unset: the local server on the default socket or 127.0.0.1:5432 when it accepts this user, else a private cluster under ./var/postgres.'),
    DATABASE_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,39}$/, 'lower-case letters, digits and _ only, at most 40 characters').optional().describe('The schema the portal keeps its tables in (search_path). Default: public.'),
    PUBLIC_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional().describe('Base URL used in mails and exports. Default: http://localhost:PORT.'),
    SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// or smtps:// URL' }).optional().describe('Outgoing mail server (smtp:// or smtps://). Unset: mail goes to the dev outbox page /dev/outbox (never in production).'),
    MAIL_FROM: z
      .string()
      .regex(/^(?:[^\r\n<>@]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/, 'must be an address, or a name and <address>, on one line')
      .default('Postmaster Portal <postmaster@portal.example.net>')
      .describe('From: header of outgoing mail.'),
    SESSION_SECRET: z.string().min(32, 'at least 32 characters').optional().describe('Secret for CSRF tokens, challenge links and sessions. Required outside local development (see below).'),
    SNAPSHOT_SIGNING_KEY: z.string().optional().describe('Ed25519 key signing routing snapshots: PKCS#8 PEM or base64 32-byte seed; its own secret. Required by the web role outside local development; in local development derived from the session secret.'),
    POLICY_FILE: z.string().optional().describe('Path of the policy JSON file. Default: src/policy.json.'),
    ABUSE_SMTP_PORT: port.optional().describe('Port of the SMTP intake for ARF abuse reports (issue 3).'),
    ABUSE_SMTP_TLS_KEY: z.string().optional().describe('PEM private key file for STARTTLS on the SMTP intake; with ABUSE_SMTP_TLS_CERT (both or neither). Neither: no STARTTLS.'),
    ABUSE_SMTP_TLS_CERT: z.string().optional().describe('PEM certificate file (chain) for STARTTLS on the SMTP intake; with ABUSE_SMTP_TLS_KEY.'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
    WORKER_LOCK_MS: z.string().regex(/^\d{3,7}$/, 'milliseconds').transform(Number).default(30000).describe('How long a worker holds a job before another may take it over if the first died (BullMQ lockDuration).'),
    OPERATOR_NAME: z.string().max(100, 'at most 100 characters').regex(/^[^\x00-\x1f\x7f<>]+$/, 'one line of text, without < or >').optional().describe('Name of the provider running the portal, shown in every page and mail footer. Default: the portal\'s name in the reader\'s language.'),
    OPERATOR_CONTACT: z.email({ error: 'must be an email address' }).max(254).optional().describe('Contact address shown in every page and mail footer. Default: the address of MAIL_FROM.'),
    OPERATOR_PRIVACY_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional().describe('Privacy notice linked from every page and mail footer. Unset: no link.'),
    OPERATOR_TERMS_URL: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }).optional().describe('Terms of use linked from every page and mail footer. Unset: no link.'),
    REPLY_DOMAIN: z
      .string()
      .max(253)
      .regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i, 'must be a domain name, such as reply.portal.example.net')
      .optional()
      .describe('Domain of the per-ticket reply addresses (ticket+<id>.<code>@REPLY_DOMAIN) set as Reply-To of staff mails; its MX must reach the SMTP intake (ABUSE_SMTP_PORT), which files the answers in their ticket. Default: the host name of PUBLIC_URL.'),
    TRUST_PROXY: trustProxy.default(['loopback']).describe('express "trust proxy": true, false, a hop count, or addresses/CIDR ranges and loopback, linklocal, uniquelocal, comma-separated; so rate limits see the real client IP behind a proxy.'),
});

/** Keys production cannot do without; checked on the raw environment so they are reported with any other error. */
const REQUIRED_IN_PRODUCTION: Record<string, string> = {
  SESSION_SECRET: 'is required in production',
  SMTP_URL: 'is required in production (the dev outbox is never used there)',
  REDIS_URL: 'is required in production',
  DATABASE_URL: 'is required in production',
};

/**
 * The process a configuration is loaded for. `all` is `npm start` (src/main.ts: every role in one process, the
 * one-command development run); `web`, `worker` (and any other role started on its own) are a deployment; the CLI
 * and tests load without a role.
 */
export type ProcessRole = 'all' | 'web' | 'worker' | (string & {});

/** NODE_ENV when it is unset: development for `npm start` and the CLI, production for a role started on its own. */
export const defaultEnvFor = (role: ProcessRole | undefined): 'development' | 'production' => (role === undefined || role === 'all' ? 'development' : 'production');

/** Roles that serve the routing API, and so sign snapshots. */
const SIGNS_SNAPSHOTS = (role: ProcessRole | undefined) => role === 'web' || role === 'all';

export type Env = z.infer<typeof envShape>;

export interface Config {
  env: 'development' | 'test' | 'production';
  port: number;
  host: string;
  redisUrl: string | undefined;
  redisPrefix: string;
  databaseUrl: string | undefined;
  databaseSchema: string | undefined;
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
  trustProxy: boolean | number | string[];
  workerLockMs: number;
  /** Who runs the portal, for page and mail footers; `name` unset means the portal's translated name. */
  operator: Operator;
  /** Domain of the per-ticket reply addresses (src/domain/reply-address.ts). */
  replyDomain: string;
  /** Local development: NODE_ENV development or test on a loopback HOST, the only place development secrets are used. */
  localDevelopment: boolean;
}

export interface Operator {
  name?: string;
  contact: string;
  privacyUrl?: string;
  termsUrl?: string;
}

/** The bare address of MAIL_FROM ("Name <a@b>" or "a@b"). */
const addressOf = (mailFrom: string) => /<([^<>]+)>\s*$/.exec(mailFrom)?.[1] ?? mailFrom.trim();

/** A fixed development secret, so separately started dev roles agree on challenge links; public, so local development only. */
const DEV_SECRET = 'dev-only-secret-never-use-in-production-0123456789';

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
}

/**
 * Parses the environment once; throws ConfigError listing every bad key.
 *
 * Fail closed: the development defaults (the public built-in session secret, a snapshot-signing key derived from
 * the secret, the dev outbox) are used only in local development, NODE_ENV development or test with a loopback
 * HOST. Anywhere else SESSION_SECRET is required (and SNAPSHOT_SIGNING_KEY by the roles that sign snapshots), and
 * production also requires SMTP_URL and REDIS_URL.
 */
export function loadConfig(source: NodeJS.ProcessEnv = process.env, opts: { role?: ProcessRole } = {}): Config {
  const blanksRemoved = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== ''));
  const parsed = envShape.safeParse(blanksRemoved);
  const lines = parsed.success ? [] : parsed.error.issues.map((i) => `  ${i.path.join('.') || '(env)'}: ${i.message}`);
  const nodeEnv = parsed.success ? (parsed.data.NODE_ENV ?? defaultEnvFor(opts.role)) : (blanksRemoved.NODE_ENV ?? defaultEnvFor(opts.role));
  const host = (parsed.success ? parsed.data.HOST : undefined) ?? (nodeEnv === 'production' ? '0.0.0.0' : '127.0.0.1');
  const localDevelopment = nodeEnv !== 'production' && isLoopbackHost(host);
  if (nodeEnv === 'production') {
    const missing = Object.keys(REQUIRED_IN_PRODUCTION).filter((key) => !blanksRemoved[key]);
    for (const key of missing) lines.push(`  ${key}: ${REQUIRED_IN_PRODUCTION[key]}`);
    if (missing.length && !blanksRemoved.NODE_ENV) lines.push('  NODE_ENV: is unset, and a role started on its own runs as production; for a local run set NODE_ENV=development (HOST stays 127.0.0.1)');
  } else if (!localDevelopment && !blanksRemoved.SESSION_SECRET) {
    lines.push(`  SESSION_SECRET: is required when HOST (${host}) is not a loopback address: the built-in development secret is public`);
  }
  if (!localDevelopment) {
    if (blanksRemoved.SESSION_SECRET === DEV_SECRET) lines.push('  SESSION_SECRET: is the public development secret; choose your own (openssl rand -base64 48)');
    if (SIGNS_SNAPSHOTS(opts.role) && !blanksRemoved.SNAPSHOT_SIGNING_KEY) lines.push(`  SNAPSHOT_SIGNING_KEY: is required ${nodeEnv === 'production' ? 'in production' : `when HOST (${host}) is not a loopback address`}: the snapshot-signing key is a secret of its own (a base64 32-byte seed: openssl rand -base64 32)`);
  }
  if (blanksRemoved.SNAPSHOT_SIGNING_KEY) {
    try {
      signingKeyFrom({ snapshotSigningKey: blanksRemoved.SNAPSHOT_SIGNING_KEY, secret: '' });
    } catch (err) {
      if (!(err instanceof SigningKeyError)) throw err;
      lines.push(`  SNAPSHOT_SIGNING_KEY: ${err.message.replace(/^SNAPSHOT_SIGNING_KEY /, '')}`);
    }
    if (blanksRemoved.SNAPSHOT_SIGNING_KEY === blanksRemoved.SESSION_SECRET) lines.push('  SNAPSHOT_SIGNING_KEY: must not be the SESSION_SECRET');
  }
  const abuseSmtpTls = readSmtpTls(blanksRemoved, lines);
  if (!parsed.success || lines.length) throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  const e = parsed.data;
  return {
    env: nodeEnv as Config['env'],
    port: e.PORT,
    host,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    databaseUrl: e.DATABASE_URL,
    databaseSchema: e.DATABASE_SCHEMA,
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
    replyDomain: (e.REPLY_DOMAIN ?? new URL(e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).hostname).toLowerCase(),
    operator: {
      ...(e.OPERATOR_NAME && { name: e.OPERATOR_NAME.trim() }),
      contact: e.OPERATOR_CONTACT ?? addressOf(e.MAIL_FROM),
      ...(e.OPERATOR_PRIVACY_URL && { privacyUrl: e.OPERATOR_PRIVACY_URL }),
      ...(e.OPERATOR_TERMS_URL && { termsUrl: e.OPERATOR_TERMS_URL }),
    },
    localDevelopment,
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
