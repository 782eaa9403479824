import { Kysely, PostgresDialect, sql } from 'kysely';
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Database } from './schema.js';

/**
 * A schema name the portal accepts: lower case, and short enough that "<schema>.<table>" stays a valid NOTIFY
 * channel (63 bytes at most).
 */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,39}$/;

export interface DbOptions {
  /** A `pg` connection string (DATABASE_URL, or what src/db/embedded.ts found). */
  url: string;
  /**
   * The one schema every statement works in (tables, migrations, NOTIFY channels): the connection's search_path.
   * Default: the server's (public). Tests give each file a schema of its own (test/helpers/db.ts).
   */
  searchPath?: string;
  /** Pool size (default 10). */
  max?: number;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
  /** A statement running longer is cancelled by the server (default: none). */
  statementTimeoutMs?: number;
  /** An idle pooled connection that breaks (server restart, network) is reported here; the pool replaces it. */
  onError?: (err: Error) => void;
}

const INT8 = 20;
const DATE = 1082;

/** int8 as a number (ids and versions stay far below 2^53; anything above is an error, not a silent rounding). */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`bigint ${value} does not fit a JavaScript number`);
  return n;
}

/** Type parsers of the portal's connections only (the process-wide pg.types stay as they are). */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (format !== 'binary' && oid === INT8) return parseInt8;
    if (format !== 'binary' && oid === DATE) return (value: string) => value; // 'YYYY-MM-DD', never a Date at local midnight
    return pg.types.getTypeParser(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** The `pg` settings every connection of the portal uses (the pool's, and a LISTEN client's). */
export function clientConfig(opts: DbOptions): pg.ClientConfig {
  if (opts.searchPath !== undefined && !SCHEMA_NAME.test(opts.searchPath)) {
    throw new Error(`Invalid schema name "${opts.searchPath}": lower-case letters, digits and _ only, at most 40 characters.`);
  }
  const settings = [
    ...(opts.searchPath ? [`-c search_path=${opts.searchPath}`] : []),
    ...(opts.statementTimeoutMs ? [`-c statement_timeout=${Math.floor(opts.statementTimeoutMs)}`] : []),
  ];
  return {
    connectionString: opts.url,
    types,
    connectionTimeoutMillis: 5000,
    ...(opts.applicationName && { application_name: opts.applicationName }),
    ...(settings.length && { options: settings.join(' ') }),
  };
}

/** The NOTIFY channel of a table (see the notify_committed trigger of migrations/0001_initial.ts). */
export const notifyChannel = (schema: string, table: string) => `${schema}.${table}`;

/** A pool and the typed query builder over it. `db.destroy()` closes the pool. */
export function createDb(opts: DbOptions): Kysely<Database> {
  const pool = new pg.Pool({ ...clientConfig(opts), max: opts.max ?? 10, idleTimeoutMillis: 30_000 });
  // Without a listener, an idle connection that breaks would crash the process; the pool drops it and opens another.
  pool.on('error', (err) => opts.onError?.(err));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparedStatements(pool) }) });
}

/**
 * Runs `fn` in a transaction: the caller's, when `db` already is one (a use case that joins a larger one), else a
 * new one. Lets a use case be called alone or as one step of another, committing with it.
 */
export function inTransaction<T>(db: Kysely<Database>, fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}

/**
 * CREATE SCHEMA IF NOT EXISTS, safe when several processes start at once: PostgreSQL's IF NOT EXISTS is not atomic
 * against a concurrent creation (one of two racing statements fails on pg_namespace's unique index), so that failure
 * means the schema now exists, which is what was asked.
 */
export async function ensureSchema(db: Kysely<Database>, schema: string): Promise<void> {
  try {
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== '23505' && code !== '42P06') throw err;
  }
}

/**
 * Sends every statement that has parameters as a named prepared statement (named by a hash of its text), so each
 * connection parses and plans a statement once, not on every call (Kysely sends unnamed statements: PostgreSQL
 * parsed and planned the report ingest's ten statements anew for every report). Statements without parameters
 * (BEGIN, COMMIT, DDL, SET) go as they are. Why and what it measured: docs/decisions/0007-prepared-statements.md.
 */
export function preparedStatements(pool: pg.Pool): pg.Pool {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (text: unknown, values?: unknown, ...rest: unknown[]) =>
      typeof text === 'string' && Array.isArray(values) && values.length > 0 && rest.length === 0 ? query({ name: statementName(text), text, values }) : query(text, values, ...rest);
  });
  return pool;
}

const statementNames = new Map<string, string>();

/** A short stable name per statement text (at most a few hundred distinct texts in this code base). */
function statementName(text: string): string {
  let name = statementNames.get(text);
  if (!name) {
    name = `pm_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    if (statementNames.size < 5000) statementNames.set(text, name);
  }
  return name;
}
