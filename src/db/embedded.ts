import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/** The database the portal uses on a server it found or started (tests use their own, see test/run.ts). */
export const DEFAULT_DATABASE = 'postmaster';
/** The default local server: its socket directories (Debian, then the upstream default) and its TCP address. */
export const LOCAL_SOCKET_DIRS = ['/var/run/postgresql', '/tmp'];
export const LOCAL_HOST = '127.0.0.1';
export const DEFAULT_PORT = 5432;
/** The superuser role of a private cluster (initdb -U), whoever runs it. */
const CLUSTER_SUPERUSER = 'postgres';
/** The OS account a private cluster runs as when we are root (PostgreSQL refuses to run as root). */
const CLUSTER_OS_USER = 'postgres';
/** A unix socket path is limited to 107 bytes; beyond this the socket goes to a short directory under /tmp. */
const MAX_SOCKET_DIR = 90;

export class PostgresUnavailableError extends Error {
  readonly code = 'POSTGRES_UNAVAILABLE';
}

export interface PostgresHandle {
  /** A connection string for `pg` (a unix socket is written as a percent-encoded host). */
  url: string;
  /** Where it came from: DATABASE_URL, a server already running on this machine, or a private cluster. */
  source: 'env' | 'local' | 'private';
  /** Stops the private cluster this call started (fast shutdown; the data stays); a no-op otherwise. */
  stop(): Promise<void>;
}

export interface EnsurePostgresOptions {
  /** The private cluster's data directory (default ./var/postgres). */
  dataDir?: string;
  /** The database to use, created when missing (default `postmaster`). */
  database?: string;
  /** Look for a running server first (default true); false goes straight to the private cluster. */
  probe?: boolean;
  /** The PostgreSQL programs' directory (default: found, see findPostgresBinDir). */
  binDir?: string;
  /** Extra server settings for a private cluster (e.g. { fsync: 'off' } for throwaway test data). */
  settings?: Record<string, string>;
  /** How long a private cluster may take to start (default 60 s). */
  startTimeoutSeconds?: number;
}

/**
 * The embedded default (DESIGN.md, External contract): DATABASE_URL when set; else a PostgreSQL on the default
 * local socket or 127.0.0.1:5432 that accepts the current user (checked by connecting with `pg`); else a private
 * cluster initialised and started from the PostgreSQL installation under ./var/postgres, listening only on a unix
 * socket inside its own directory (as the `postgres` OS user when run as root); else a clear message naming the
 * Debian package. The database (`postmaster`) is created when missing.
 */
export async function ensurePostgres(databaseUrl: string | undefined, opts: EnsurePostgresOptions = {}): Promise<PostgresHandle> {
  if (databaseUrl) return { url: databaseUrl, source: 'env', stop: async () => {} };
  const database = opts.database ?? DEFAULT_DATABASE;
  if (opts.probe !== false) {
    const url = await findLocalServer(database);
    if (url) return { url, source: 'local', stop: async () => {} };
  }
  return startPrivateCluster(path.resolve(opts.dataDir ?? 'var/postgres'), database, opts);
}

/** `postgresql://user@host:port/db`; a socket directory is written percent-encoded in the host part. */
export function connectionUrl(user: string, host: string, port: number, database: string): string {
  return `postgresql://${encodeURIComponent(user)}@${host.startsWith('/') ? encodeURIComponent(host) : host}:${port}/${encodeURIComponent(database)}`;
}

/** Connects once and runs `fn`; undefined when the server refuses or is not there. */
async function tryConnect<T>(config: pg.ClientConfig, fn: (client: pg.Client) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  const client = new pg.Client({ connectionTimeoutMillis: 2000, ...config });
  client.on('error', () => {}); // a connection that dies while we hold it fails the query below
  try {
    await client.connect();
    return { ok: true, value: await fn(client) };
  } catch (error) {
    return { ok: false, error: error as Error };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates `database` (owned by the connected role) unless it exists. */
async function createDatabaseIfMissing(client: pg.Client, database: string): Promise<void> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (rowCount) return;
  try {
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } catch (err) {
    if ((err as { code?: string }).code !== '42P04') throw err; // duplicate_database: someone else made it meanwhile
  }
}

/**
 * A server on the default socket or 127.0.0.1:5432 that lets the current OS user in (peer, trust, or a password
 * from ~/.pgpass or PGPASSWORD). Returns its URL for `database`, creating the database if needed; null when no
 * server accepts the user. A server that accepts the user but will not give them the database is an error: the
 * operator has to say what to use.
 */
async function findLocalServer(database: string): Promise<string | null> {
  const user = userInfo().username;
  const hosts = [...LOCAL_SOCKET_DIRS.filter((dir) => existsSync(path.join(dir, `.s.PGSQL.${DEFAULT_PORT}`))), LOCAL_HOST];
  for (const host of hosts) {
    const base = { host, port: DEFAULT_PORT, user };
    const direct = await tryConnect({ ...base, database }, async () => true);
    if (direct.ok) return connectionUrl(user, host, DEFAULT_PORT, database);
    if ((direct.error as { code?: string }).code !== '3D000') continue; // anything but "no such database": not for us
    const created = await tryConnect({ ...base, database: 'postgres' }, (client) => createDatabaseIfMissing(client, database));
    if (created.ok) return connectionUrl(user, host, DEFAULT_PORT, database);
    throw new PostgresUnavailableError(
      `PostgreSQL on ${host} accepts the user "${user}", but the database "${database}" does not exist and could not be created (${created.error.message}).\n` +
        `Create it (createdb -O ${user} ${database}) or set DATABASE_URL.`,
    );
  }
  return null;
}

/** The directory of initdb/pg_ctl/postgres: Debian's /usr/lib/postgresql/<newest>/bin, else `pg_config --bindir`, else initdb on PATH. */
export async function findPostgresBinDir(): Promise<string | null> {
  const has = (dir: string) => ['initdb', 'pg_ctl', 'postgres'].every((p) => existsSync(path.join(dir, p)));
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(path.join(debian, v, 'bin'))) return path.join(debian, v, 'bin');
  }
  const fromPgConfig = await run('pg_config', ['--bindir']).then((r) => r.stdout.trim(), () => '');
  if (fromPgConfig && has(fromPgConfig)) return fromPgConfig;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir && has(dir)) return dir;
  return null;
}

const missingMessage = (why: string) =>
  `${why}\nInstall PostgreSQL (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL.`;

async function startPrivateCluster(dataDir: string, database: string, opts: EnsurePostgresOptions): Promise<PostgresHandle> {
  const binDir = opts.binDir ?? (await findPostgresBinDir());
  if (!binDir || !existsSync(path.join(binDir, 'initdb')) || !existsSync(path.join(binDir, 'pg_ctl'))) {
    throw new PostgresUnavailableError(
      missingMessage(`No PostgreSQL accepts the user "${userInfo().username}" on the default local socket or ${LOCAL_HOST}:${DEFAULT_PORT}, and no PostgreSQL installation (initdb, pg_ctl) was found to start a private cluster under ${dataDir}.`),
    );
  }
  const owner = await clusterOwner();
  const as = (program: string, args: string[], timeoutMs = 120_000) => runAs(owner, path.join(binDir, program), args, timeoutMs);

  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (owner) chownSync(dataDir, owner.uid, owner.gid);
  if (owner && (await runAs(owner, 'test', ['-w', dataDir, '-a', '-x', dataDir]).then(() => false, () => true))) {
    throw new PostgresUnavailableError(`The "${CLUSTER_OS_USER}" OS user cannot reach ${dataDir} (a parent directory is closed to it). Run from a directory it can read, or set DATABASE_URL.`);
  }

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    // Local connections only, over a socket inside the data directory (closed to other users): trust is as safe as peer there.
    await as('initdb', ['-D', dataDir, '-U', CLUSTER_SUPERUSER, '-E', 'UTF8', '--locale=C', '--auth-local=trust', '--auth-host=scram-sha-256']).catch((err: Error) => {
      throw new PostgresUnavailableError(`initdb failed for ${dataDir}:\n${err.message}`);
    });
    const conf = path.join(dataDir, 'postgresql.conf');
    writeFileSync(conf, `${readFileSync(conf, 'utf8')}\n# Postmaster Portal: settings rewritten at every start\ninclude_if_exists = 'portal.conf'\n`);
  }

  let socketDir = dataDir;
  if (dataDir.length > MAX_SOCKET_DIR) {
    socketDir = mkdtempSync(path.join(tmpdir(), 'pm-pg-'));
    if (owner) chownSync(socketDir, owner.uid, owner.gid);
  }
  const settings: Record<string, string> = { listen_addresses: '', unix_socket_directories: socketDir, port: String(DEFAULT_PORT), ...opts.settings };
  const portalConf = path.join(dataDir, 'portal.conf');
  writeFileSync(portalConf, Object.entries(settings).map(([k, v]) => `${k} = '${v.replace(/'/g, "''")}'\n`).join(''));
  if (owner) chownSync(portalConf, owner.uid, owner.gid);

  // Already running (a previous `npm start` still up, or another process of this checkout): use it, leave it running.
  const running = await as('pg_ctl', ['status', '-D', dataDir], 10_000).then(() => true, () => false);
  let started = false;
  if (!running) {
    const seconds = opts.startTimeoutSeconds ?? 60;
    await as('pg_ctl', ['start', '-D', dataDir, '-l', path.join(dataDir, 'server.log'), '-w', '-t', String(seconds), '-s'], (seconds + 10) * 1000).catch((err: Error) => {
      throw new PostgresUnavailableError(`PostgreSQL did not start from ${dataDir} (see ${path.join(dataDir, 'server.log')}):\n${err.message}`);
    });
    started = true;
  }
  const stop = async () => {
    if (started) await as('pg_ctl', ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60', '-s'], 70_000);
    started = false;
  };

  const socket = running ? await socketDirOf(dataDir, socketDir) : socketDir;
  const made = await tryConnect({ host: socket, port: DEFAULT_PORT, user: CLUSTER_SUPERUSER, database: 'postgres' }, (client) => createDatabaseIfMissing(client, database));
  if (!made.ok) {
    await stop().catch(() => {});
    throw new PostgresUnavailableError(`The private PostgreSQL cluster in ${dataDir} is running but refused the connection: ${made.error.message}`);
  }
  return { url: connectionUrl(CLUSTER_SUPERUSER, socket, DEFAULT_PORT, database), source: 'private', stop };
}

/** The socket directory a running cluster reports in its postmaster.pid (line 5), else the one we configured. */
async function socketDirOf(dataDir: string, fallback: string): Promise<string> {
  try {
    const line = readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[4]?.trim();
    return line || fallback;
  } catch {
    return fallback;
  }
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

/** Who runs the cluster: ourselves (null), or the `postgres` OS user when we are root. */
async function clusterOwner(): Promise<OsUser | null> {
  if (process.getuid?.() !== 0) return null;
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', CLUSTER_OS_USER]), run('id', ['-g', CLUSTER_OS_USER])]);
    return { name: CLUSTER_OS_USER, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  } catch {
    throw new PostgresUnavailableError(
      missingMessage(`Running as root, and PostgreSQL refuses to run as root: a private cluster needs the "${CLUSTER_OS_USER}" OS user, which does not exist (the Debian package postgresql creates it).`),
    );
  }
}

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} ${args.join(' ')}: ${(stderr || stdout || err.message).toString().trim()}`));
      else resolve({ stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a program as `owner` (runuser, else su) or as ourselves. */
async function runAs(owner: OsUser | null, file: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  if (!owner) return run(file, args, timeoutMs);
  if (existsSync('/usr/sbin/runuser') || existsSync('/sbin/runuser')) {
    return run(existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : '/sbin/runuser', ['-u', owner.name, '--', file, ...args], timeoutMs);
  }
  return run('su', [owner.name, '-s', '/bin/sh', '-c', [file, ...args].map(shellQuote).join(' ')], timeoutMs);
}
