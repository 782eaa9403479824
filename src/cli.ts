/** The operator CLI: `npx postmaster <command>`. Talks to Redis directly, through the same use cases as the portal. */
import { Command, CommanderError } from 'commander';
import { loadConfig } from './config.js';
import { createContext, type Context } from './context.js';
import { AppError } from './errors.js';
import { IpInputError, parseAddress } from './domain/ip.js';
import { addListing, removeListing } from './features/blocklist/service.js';
import { assignPool, releasePool } from './features/pools/service.js';
import { isExportFormat, writeExport } from './features/exports/service.js';
import { createLogger } from './logger.js';
import { DEFAULT_POLICY_FILE, loadPolicy } from './policy.js';
import { createRedis } from './redis/connection.js';
import { generatePassword } from './domain/passwords.js';
import { hashPassword } from './domain/passwords.js';
import { ROLES, type Role } from './stores/staff.js';
import { z } from 'zod';
import { DEFAULT_REDIS_URL } from './redis/embedded.js';

const out = (line = '') => process.stdout.write(`${line}\n`);

/** Runs one command with a context, and always closes its connections. */
async function withContext(fn: (ctx: Context) => Promise<unknown>): Promise<void> {
  const config = loadConfig();
  const policy = loadPolicy(config.policyFile ?? DEFAULT_POLICY_FILE);
  const ctx = createContext(config, policy, createRedis(config.redisUrl ?? DEFAULT_REDIS_URL, 'cli'), createLogger('silent', 'cli'));
  try {
    await fn(ctx);
  } finally {
    await ctx.jobs.close();
    ctx.redis.disconnect();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const operator = () => `cli:${process.env.USER ?? 'operator'}`;

const program = new Command('postmaster').description('Postmaster Portal operator commands').showHelpAfterError().exitOverride();

const block = program.command('block').description('the blocked-sender list');

block
  .command('add <target>')
  .description('list an IP address or CIDR range (canonical form; host bits set are refused)')
  .requiredOption('--category <category>', 'spam-source, backscatter, botnet, malware, snowshoe or manual')
  .option('--expires <duration>', '30m, 72h, 7d, 2w or never (default: the relist policy, 1, 1, 2, 4 … days)')
  .option('--reason <text>', 'public reason (default: the category reason)')
  .option('--note <text>', 'internal note')
  .option('--json', 'print JSON')
  .action((target: string, o: { category: string; expires?: string; reason?: string; note?: string; json?: boolean }) =>
    withContext(async (ctx) => {
      const { entry, version } = await addListing(ctx, { target, category: o.category, expires: o.expires, reason: o.reason, note: o.note, source: 'cli', by: operator() });
      if (o.json) return out(JSON.stringify({ entry, version }));
      out(`listed ${entry.cidr} (${entry.category}) until ${entry.expiresAt ?? 'removed'} — routing version ${version}`);
    }),
  );

block
  .command('remove <target>')
  .description('remove a listing; an address inside a listed range gets an exclusion')
  .option('--reason <text>', 'why', 'removed by an operator')
  .option('--json', 'print JSON')
  .action((target: string, o: { reason: string; json?: boolean }) =>
    withContext(async (ctx) => {
      const result = await removeListing(ctx, target, operator(), o.reason);
      if (o.json) return out(JSON.stringify(result));
      out(result.change === 'removed' ? `removed ${result.covering}` : `excluded ${target} from ${result.covering}`);
      out(`routing version ${result.version}`);
    }),
  );

block
  .command('list')
  .description('print the listings and exclusions')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) =>
    withContext(async (ctx) => {
      const snap = await ctx.routing.snapshot();
      if (o.json) return out(JSON.stringify({ version: snap.version, blocklist: snap.blocklist, exclusions: snap.exclusions }));
      out(`routing version ${snap.version}: ${snap.blocklist.length} listings, ${snap.exclusions.length} exclusions`);
      for (const e of snap.blocklist) out(`${e.cidr.padEnd(24)} ${e.category.padEnd(12)} since ${e.listedAt}  until ${e.expiresAt ?? '-'}  ${e.reason}`);
      for (const x of snap.exclusions) out(`!${x.cidr.padEnd(23)} ${'exclusion'.padEnd(12)} since ${x.createdAt}  ${x.reason}`);
    }),
  );

program
  .command('check <ip>')
  .description('is this address listed? (longest prefix wins, exclusions beat listings)')
  .option('--json', 'print JSON')
  .action((ip: string, o: { json?: boolean }) =>
    withContext(async (ctx) => {
      const addr = parseAddress(ip);
      const v = await ctx.blocklist.lookup(addr);
      if (o.json) return out(JSON.stringify({ ip: addr.text, listed: v.listed, ...(v.listed && { entry: v.listing }) }));
      if (v.listed) out(`${addr.text} is listed by ${v.listing!.cidr} (${v.listing!.category}) since ${v.listing!.listedAt}: ${v.listing!.reason}`);
      else out(`${addr.text} is not listed${v.exclusion ? ` (excluded by ${v.exclusion.cidr})` : ''}`);
    }),
  );

const staffCmd = program.command('staff').description('staff accounts of the console');

staffCmd
  .command('add <email>')
  .description('create (or reset) a staff account; prints a generated password unless --password-stdin')
  .requiredOption('--role <role>', 'viewer, triager or admin')
  .option('--password-stdin', 'read the password from standard input')
  .action((email: string, o: { role: string; passwordStdin?: boolean }) =>
    withContext(async (ctx) => {
      if (!ROLES.includes(o.role as Role)) throw new AppError(400, 'ROLE_INVALID', `Unknown role "${o.role}": use ${ROLES.join(', ')}.`);
      if (!z.email().safeParse(email).success) throw new AppError(400, 'EMAIL_INVALID', `"${email}" is not an email address.`);
      const password = o.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : generatePassword();
      if (password.length < 12) throw new AppError(400, 'PASSWORD_WEAK', 'A staff password needs at least 12 characters.');
      const user = await ctx.staff.add(email, o.role as Role, password);
      const tx = ctx.redis.multi();
      ctx.audit.appendIn(tx, { at: user.createdAt, actor: operator(), action: 'staff.add', target: user.email, reason: `role ${user.role}`, after: user });
      await tx.exec();
      out(`created ${user.email} (${user.role})`);
      if (!o.passwordStdin) out(`password: ${password}`);
    }),
  );

staffCmd
  .command('list')
  .description('print the staff accounts')
  .action(() =>
    withContext(async (ctx) => {
      for (const u of await ctx.staff.list()) out(`${u.email.padEnd(40)} ${u.role.padEnd(8)} since ${u.createdAt}`);
    }),
  );

const pool = program.command('pool').description('outbound pool assignments (tenant or sending domain → pool)');

const target = (o: { tenant?: string; domain?: string }): { kind: 'tenant' | 'domain'; key: string } => {
  if (!!o.tenant === !!o.domain) throw new AppError(400, 'TARGET_REQUIRED', 'Give exactly one of --tenant <id> or --domain <domain>.');
  return o.tenant ? { kind: 'tenant', key: o.tenant } : { kind: 'domain', key: o.domain! };
};

pool
  .command('assign')
  .description('route a tenant or a sending domain through a pool')
  .option('--tenant <id>', 'tenant id')
  .option('--domain <domain>', 'sending domain (its subdomains follow)')
  .requiredOption('--pool <pool>', 'normal, high-risk or relay')
  .option('--expires <duration>', '30m, 72h, 7d, 2w or never', 'never')
  .requiredOption('--reason <text>', 'why (kept in the dataset and the audit log)')
  .option('--json', 'print JSON')
  .action((o: { tenant?: string; domain?: string; pool: string; expires: string; reason: string; json?: boolean }) =>
    withContext(async (ctx) => {
      const { assignment, version } = await assignPool(ctx, { ...target(o), pool: o.pool, expires: o.expires, reason: o.reason, source: 'cli', by: operator() });
      if (o.json) return out(JSON.stringify({ assignment, version }));
      out(`assigned ${assignment.kind} ${assignment.key} to ${assignment.pool} until ${assignment.expiresAt ?? 'released'} — routing version ${version}`);
    }),
  );

pool
  .command('release')
  .description('end an assignment now')
  .option('--tenant <id>', 'tenant id')
  .option('--domain <domain>', 'sending domain')
  .option('--reason <text>', 'why', 'released by an operator')
  .action((o: { tenant?: string; domain?: string; reason: string }) =>
    withContext(async (ctx) => {
      const t = target(o);
      const version = await releasePool(ctx, t.kind, t.key, operator(), o.reason);
      out(`released ${t.kind} ${t.key} — routing version ${version}`);
    }),
  );

pool
  .command('list')
  .description('print the assignments')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) =>
    withContext(async (ctx) => {
      const snap = await ctx.routing.snapshot();
      if (o.json) return out(JSON.stringify({ version: snap.version, assignments: snap.assignments }));
      out(`routing version ${snap.version}: ${snap.assignments.length} assignments`);
      for (const a of snap.assignments) out(`${`${a.kind}:${a.key}`.padEnd(32)} ${String(a.pool).padEnd(10)} until ${a.expiresAt ?? '-'}  ${a.reason}`);
    }),
  );

program
  .command('token')
  .description('API tokens for the routing engine')
  .command('create <name>')
  .description('create a token; it is printed once and stored only as a hash')
  .action((name: string) =>
    withContext(async (ctx) => {
      out(await ctx.apiTokens.create(name));
    }),
  );

program
  .command('export')
  .description('print the routing datasets: json (the snapshot), rbldnsd (a combined data file) or postfix (a cidr table)')
  .option('--format <format>', 'json, rbldnsd or postfix', 'json')
  .action((o: { format: string }) =>
    withContext(async (ctx) => {
      if (o.format === 'json') return out(JSON.stringify(await ctx.routing.snapshot()));
      if (!isExportFormat(o.format)) throw new AppError(400, 'UNSUPPORTED_FORMAT', `Unknown export format "${o.format}"; use json, rbldnsd or postfix.`);
      await writeExport(ctx, o.format, process.stdout);
    }),
  );

program
  .command('hash-password')
  .description('read a password on standard input and print its scrypt hash (for policy partners[].smtpAuth.passwordHash)')
  .action(async () => {
    const password = (await readStdin()).replace(/\r?\n$/, '');
    if (!password) throw new AppError(400, 'PASSWORD_EMPTY', 'Give the password on standard input, e.g. `printf %s "$PASSWORD" | npx postmaster hash-password`.');
    out(await hashPassword(password));
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const message = err instanceof AppError || err instanceof IpInputError ? err.message : `error: ${(err as Error).message}`;
  process.stderr.write(`${message}\n`);
  process.exit(err instanceof AppError || err instanceof IpInputError ? 2 : 1);
}
