/** The operator CLI: `npx postmaster <command>`. Opens the same stores as the roles (PostgreSQL for records, Redis for queues) and goes through the same use cases as the portal. */
import { userInfo } from 'node:os';
import { Command, CommanderError } from 'commander';
import { loadConfig, type Config } from './config.js';
import { createContext, type Context } from './context.js';
import { AppError } from './errors.js';
import { IpInputError, parseAddress } from './domain/ip.js';
import { addListing, parseTarget, removeListing } from './features/blocklist/service.js';
import { listingTargetRefusal } from './domain/guardrails.js';
import { assignPool, releasePool } from './features/pools/service.js';
import { addTenant, addTenantItem, listTenants, removeTenantItem } from './features/tenants/service.js';
import { isExportFormat, writeExport } from './features/exports/service.js';
import { createLogger } from './logger.js';
import { DEFAULT_POLICY_FILE, loadPolicy, type Policy } from './policy.js';
import { createRedis } from './redis/connection.js';
import { generatePassword, hashPassword } from './domain/passwords.js';
import { ROLES, type Role, type StaffUser } from './stores/staff.js';
import { TokenNameTakenError } from './stores/api-tokens.js';
import type { Kysely } from 'kysely';
import type { Database } from './db/schema.js';
import { z } from 'zod';
import { DEFAULT_REDIS_URL } from './redis/embedded.js';
import { openDatabase, SchemaBehindError, type OpenDatabase } from './db/open.js';

const out = (line = '') => process.stdout.write(`${line}\n`);

/** Runs one command with a context, and always closes its connections. */
async function withContext(fn: (ctx: Context) => Promise<unknown>): Promise<void> {
  let config: Config;
  let policy: Policy;
  try {
    config = loadConfig();
    policy = loadPolicy(config.policyFile ?? DEFAULT_POLICY_FILE);
  } catch (err) {
    // A configuration error is the operator's to fix, named key by key: exit 78 as every role does, no stack trace.
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(78);
  }
  let database: OpenDatabase;
  try {
    database = await openDatabase(config, 'postmaster-cli');
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(err instanceof SchemaBehindError ? 78 : 69);
  }
  const ctx = createContext(config, policy, createRedis(config.redisUrl ?? DEFAULT_REDIS_URL, 'cli'), createLogger('silent', 'cli'), database.db);
  try {
    await fn(ctx);
  } finally {
    await ctx.jobs.close();
    ctx.redis.disconnect();
    await database.close();
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const program = new Command('postmaster')
  .description('Postmaster Portal operator commands')
  .option('--as <name>', 'who runs this command, as the audit log names them (default: the OS user)')
  .showHelpAfterError()
  .exitOverride();

/** Who runs a command, as the audit log names them: `cli:<--as>`, else `cli:<OS user>`. */
function operator(): string {
  const as = program.opts<{ as?: string }>().as;
  if (as !== undefined) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$/.test(as)) throw new AppError(400, 'ACTOR_INVALID', '--as takes a name of up to 64 letters, digits and . _ @ + -');
    return `cli:${as}`;
  }
  let name = '';
  try {
    name = userInfo().username;
  } catch {
    // No passwd entry for this uid (a bare container): fall back to the environment.
  }
  return `cli:${name || process.env.USER || process.env.LOGNAME || 'unknown'}`;
}

const block = program.command('block').description('the blocked-sender list');

block
  .command('add <target>')
  .description('list an IP address or CIDR range (canonical form; host bits set are refused)')
  .requiredOption('--category <category>', 'spam-source, backscatter, botnet, malware, snowshoe or manual')
  .option('--expires <duration>', '30m, 72h, 7d, 2w or never (default: the relist policy, 1, 1, 2, 4 … days)')
  .option('--reason <text>', 'public reason (default: the category reason)')
  .option('--note <text>', 'internal note')
  .option('--override', 'list it even though it overlaps one of our own outbound pool ranges')
  .option('--json', 'print JSON')
  .action((target: string, o: { category: string; expires?: string; reason?: string; note?: string; override?: boolean; json?: boolean }) =>
    withContext(async (ctx) => {
      const refusal = listingTargetRefusal(ctx.policy, parseTarget(target));
      if (refusal && !(refusal.overridable && o.override)) throw new AppError(400, refusal.overridable ? 'OUR_POOL' : 'SPECIAL_PURPOSE', refusal.overridable ? `${refusal.reason} (--override)` : refusal.reason);
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
      const hash = await hashPassword(password);
      const user = await ctx.db.transaction().execute(async (trx) => {
        const added = await ctx.staff.addIn(trx, email, o.role as Role, hash);
        await ctx.audit.appendIn(trx, { at: new Date().toISOString(), actor: operator(), action: 'staff.add', target: added.email, reason: `role ${added.role}`, after: added });
        return added;
      });
      out(`created ${user.email} (${user.role})`);
      if (user.disabled) out('this account is disabled: `staff enable` lets it sign in');
      if (!o.passwordStdin) out(`password: ${password}`);
    }),
  );

staffCmd
  .command('list')
  .description('print the staff accounts')
  .action(() =>
    withContext(async (ctx) => {
      for (const u of await ctx.staff.list()) out(`${u.email.padEnd(40)} ${u.role.padEnd(8)} ${(u.disabled ? 'disabled' : 'active').padEnd(8)} since ${u.createdAt}`);
    }),
  );

/**
 * Changes one existing staff account and appends the audit entry naming who did it, in one transaction.
 * The changes apply at the account's next request: the web reads role, status and session version every time.
 */
async function changeStaff(ctx: Context, email: string, action: string, reason: string, change: (trx: Kysely<Database>, before: StaffUser) => Promise<Partial<Pick<StaffUser, 'role' | 'disabled'>>>): Promise<StaffUser> {
  const actor = operator();
  if (reason.length > 500) throw new AppError(400, 'REASON_TOO_LONG', 'A reason has at most 500 characters.');
  const before = await ctx.staff.get(email);
  if (!before) throw new AppError(404, 'STAFF_UNKNOWN', `There is no staff account "${email}".`);
  await ctx.db.transaction().execute(async (trx) => {
    const after = await change(trx, before);
    await ctx.audit.appendIn(trx, { at: new Date().toISOString(), actor, action, target: before.email, reason, before: { role: before.role, disabled: before.disabled }, after: { role: before.role, disabled: before.disabled, ...after } });
  });
  return before;
}

staffCmd
  .command('disable <email>')
  .description('stop an account from signing in and end its sessions')
  .option('--reason <text>', 'why', 'disabled by an operator')
  .action((email: string, o: { reason: string }) =>
    withContext(async (ctx) => {
      await changeStaff(ctx, email, 'staff.disable', o.reason, async (trx) => (await ctx.staff.setDisabledIn(trx, email, true), { disabled: true }));
      out(`disabled ${email.toLowerCase()}; its sessions are ended`);
    }),
  );

staffCmd
  .command('enable <email>')
  .description('let a disabled account sign in again')
  .option('--reason <text>', 'why', 'enabled by an operator')
  .action((email: string, o: { reason: string }) =>
    withContext(async (ctx) => {
      await changeStaff(ctx, email, 'staff.enable', o.reason, async (trx) => (await ctx.staff.setDisabledIn(trx, email, false), { disabled: false }));
      out(`enabled ${email.toLowerCase()}`);
    }),
  );

staffCmd
  .command('role <email> <role>')
  .description('change the role of an account (admin, triager or viewer); it applies at its next request')
  .option('--reason <text>', 'why', 'role changed by an operator')
  .action((email: string, role: string, o: { reason: string }) =>
    withContext(async (ctx) => {
      if (!ROLES.includes(role as Role)) throw new AppError(400, 'ROLE_INVALID', `Unknown role "${role}": use ${ROLES.join(', ')}.`);
      const before = await changeStaff(ctx, email, 'staff.role', o.reason, async (trx) => (await ctx.staff.setRoleIn(trx, email, role as Role), { role: role as Role }));
      out(`${before.email}: ${before.role} → ${role}`);
    }),
  );

staffCmd
  .command('password <email>')
  .description('set a new password (generated and printed unless --password-stdin); ends the sessions of the account')
  .option('--password-stdin', 'read the password from standard input')
  .action((email: string, o: { passwordStdin?: boolean }) =>
    withContext(async (ctx) => {
      const password = o.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : generatePassword();
      if (password.length < 12) throw new AppError(400, 'PASSWORD_WEAK', 'A staff password needs at least 12 characters.');
      if (password.length > 1000) throw new AppError(400, 'PASSWORD_LONG', 'A staff password has at most 1000 characters.');
      const hash = await hashPassword(password);
      await changeStaff(ctx, email, 'staff.password', 'password changed; sessions ended', async (trx) => (await ctx.staff.setPasswordHashIn(trx, email, hash), {}));
      out(`new password set for ${email.toLowerCase()}; its sessions are ended`);
      if (!o.passwordStdin) out(`password: ${password}`);
    }),
  );

staffCmd
  .command('sessions')
  .description('staff sessions')
  .command('revoke <email>')
  .description('end every session of an account now (it has to sign in again)')
  .option('--reason <text>', 'why', 'sessions revoked by an operator')
  .action((email: string, o: { reason: string }) =>
    withContext(async (ctx) => {
      await changeStaff(ctx, email, 'staff.sessions.revoke', o.reason, async (trx) => (await ctx.staff.revokeSessionsIn(trx, email), {}));
      out(`ended every session of ${email.toLowerCase()}`);
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

const tenantCmd = program.command('tenant').description('the tenant directory: tenants, their sending domains, Feedback-ID identifiers and VERP patterns');

tenantCmd
  .command('add <id>')
  .description('add a tenant (1–64 letters, digits, dots, dashes or underscores)')
  .option('--name <name>', 'display name (up to 200 characters)')
  .action((id: string, o: { name?: string }) =>
    withContext(async (ctx) => {
      const t = await addTenant(ctx, { id, name: o.name ?? '' }, operator());
      out(`added tenant ${t.id}${t.name ? ` (${t.name})` : ''}`);
    }),
  );

/** `tenant <item> add|remove <id> <value>` for each kind of registered value. */
for (const [word, item, what] of [['domain', 'domain', 'a sending domain (its subdomains count as registered)'], ['feedback-id', 'feedback-id', 'a Feedback-ID identifier (one colon-separated part)'], ['verp', 'verp', 'a VERP pattern, e.g. bounce-*@bounces.example.com']] as const) {
  const cmd = tenantCmd.command(word).description(`${what} of a tenant`);
  cmd
    .command('add <id> <value>')
    .description(`register ${what}`)
    .action((id: string, value: string) =>
      withContext(async (ctx) => {
        out(`registered ${await addTenantItem(ctx, id, item, value, operator())} to tenant ${id}`);
      }),
    );
  cmd
    .command('remove <id> <value>')
    .description(`remove ${what}`)
    .action((id: string, value: string) =>
      withContext(async (ctx) => {
        out(`removed ${await removeTenantItem(ctx, id, item, value, operator())} from tenant ${id}`);
      }),
    );
}

tenantCmd
  .command('list')
  .description('print the tenants with what is registered to them (audited: the directory names customers)')
  .option('--search <text>', 'only tenants whose id or name contains it, or that a domain (or a parent), identifier or pattern names')
  .option('--json', 'print JSON')
  .action((o: { search?: string; json?: boolean }) =>
    withContext(async (ctx) => {
      const tenants = await listTenants(ctx, o.search, 1000);
      await ctx.audit.append({ at: new Date().toISOString(), actor: operator(), action: 'tenant.list', target: 'tenants', reason: o.search ? `search ${o.search.slice(0, 100)}` : 'all tenants', after: { count: tenants.length } });
      if (o.json) return out(JSON.stringify(tenants));
      for (const t of tenants) {
        out(`${t.id}${t.name ? ` (${t.name})` : ''}`);
        out(`  domains: ${t.domains.join(', ') || '-'}`);
        out(`  feedback-ids: ${t.feedbackIds.join(', ') || '-'}`);
        out(`  verp: ${t.verpPatterns.join(', ') || '-'}`);
      }
    }),
  );

const tokenCmd = program.command('token').description('API tokens for the routing engine and partners');

tokenCmd
  .command('create <name>')
  .description('create a token; it is printed once and stored only as a hash')
  .action((name: string) =>
    withContext(async (ctx) => {
      const actor = operator();
      if (!/^[A-Za-z0-9][A-Za-z0-9._ -]{0,99}$/.test(name)) throw new AppError(400, 'NAME_INVALID', 'A token name has 1–100 letters, digits, spaces and . _ -, starting with a letter or digit.');
      const token = await ctx.db
        .transaction()
        .execute(async (trx) => {
          const created = await ctx.apiTokens.createIn(trx, name, new Date(), actor);
          await ctx.audit.appendIn(trx, { at: new Date().toISOString(), actor, action: 'token.create', target: name, reason: 'API token created' });
          return created;
        })
        .catch((err: unknown) => {
          if (err instanceof TokenNameTakenError) throw new AppError(409, 'TOKEN_EXISTS', err.message);
          throw err;
        });
      out(token);
    }),
  );

tokenCmd
  .command('list')
  .description('print the tokens: names and creation dates (the secrets are not kept)')
  .option('--json', 'print JSON')
  .action((o: { json?: boolean }) =>
    withContext(async (ctx) => {
      const tokens = await ctx.apiTokens.list();
      if (o.json) return out(JSON.stringify(tokens));
      for (const t of tokens) out(`${t.name.padEnd(40)} created ${t.createdAt}`);
    }),
  );

tokenCmd
  .command('revoke <name>')
  .description('revoke the live token of this name (kept as revoked, with who and when); it stops working at its next request')
  .option('--reason <text>', 'why', 'revoked by an operator')
  .action((name: string, o: { reason: string }) =>
    withContext(async (ctx) => {
      const actor = operator();
      if (o.reason.length > 500) throw new AppError(400, 'REASON_TOO_LONG', 'A reason has at most 500 characters.');
      const revoked = await ctx.db.transaction().execute(async (trx) => {
        const gone = await ctx.apiTokens.revokeIn(trx, name, actor);
        if (!gone.length) throw new AppError(404, 'TOKEN_UNKNOWN', `There is no token named "${name}".`);
        await ctx.audit.appendIn(trx, { at: new Date().toISOString(), actor, action: 'token.revoke', target: name, reason: o.reason, before: gone });
        return gone;
      });
      out(`revoked ${revoked.length} token${revoked.length === 1 ? '' : 's'} named ${name}`);
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
