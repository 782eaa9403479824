import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { clientConfig, createDb, preparedStatements, type DbOptions } from '../../src/db/connection.js';
import { ensurePostgres } from '../../src/db/embedded.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import type { Database } from '../../src/db/schema.js';

/** Test schemas are named pm_t_<creation time, base 36 seconds>_<random>: unique, and old ones can be recognised. */
export const TEST_SCHEMA = /^pm_t_([0-9a-z]+)_[0-9a-f]{8}$/;

let url: Promise<string> | null = null;

/**
 * The database the tests use: DATABASE_URL as `npm test` (test/run.ts) exports it; for a test file started some other
 * way, the same embedded rule on the test data directory and database.
 */
export function testDatabaseUrl(): Promise<string> {
  url ??= process.env.DATABASE_URL ? Promise.resolve(process.env.DATABASE_URL) : ensurePostgres(undefined, { dataDir: 'var/postgres-test', database: 'postmaster_test' }).then((h) => h.url);
  return url;
}

export interface TestDb {
  db: Kysely<Database>;
  schema: string;
  url: string;
  /** Options for another connection into the same schema (a second pool, a LISTEN client). */
  options: DbOptions;
  /** Closes the pool and drops the schema with everything in it. */
  cleanup(): Promise<void>;
}

/** Runs `fn` on a short-lived connection outside any test schema (creating and dropping schemas). */
async function admin<T>(fn: (db: Kysely<Database>) => Promise<T>): Promise<T> {
  const db = createDb({ url: await testDatabaseUrl(), max: 1 });
  try {
    return await fn(db);
  } finally {
    await db.destroy();
  }
}

/**
 * A schema of this test's own, created (and migrated, unless `migrate: false`) now and dropped by cleanup(), so no
 * test sees another's rows. Call it once per file (in `before`) or once per test.
 */
/** A new test schema name (not created yet): unique, and recognisable by its age (dropStaleTestSchemas). */
export const newSchemaName = () => `pm_t_${Math.floor(Date.now() / 1000).toString(36)}_${randomBytes(4).toString('hex')}`;

/**
 * A Kysely over a schema of its own that is created and migrated on first use (Kysely opens its pool lazily, and the
 * pool factory may be async), so a synchronous testContext() can carry a database. Drop it with dropSchema().
 */
export function lazyTestDb(schema: string, max = 5): Kysely<Database> {
  return new Kysely<Database>({
    dialect: new PostgresDialect({
      pool: async () => {
        const url = await testDatabaseUrl();
        await admin((db) => sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema)}`.execute(db));
        const migrating = createDb({ url, searchPath: schema, max: 1 });
        try {
          await migrateToLatest(migrating);
        } finally {
          await migrating.destroy();
        }
        const pool = new pg.Pool({ ...clientConfig({ url, searchPath: schema, applicationName: `test ${schema}` }), max });
        pool.on('error', () => {}); // a connection dropped by the server is replaced by the pool
        return preparedStatements(pool);
      },
    }),
  });
}

export async function testDb(opts: { migrate?: boolean; max?: number } = {}): Promise<TestDb> {
  const schema = newSchemaName();
  const dbUrl = await testDatabaseUrl();
  await admin((db) => sql`CREATE SCHEMA ${sql.id(schema)}`.execute(db));
  const options: DbOptions = { url: dbUrl, searchPath: schema, max: opts.max ?? 5, applicationName: `test ${schema}` };
  const db = createDb(options);
  try {
    if (opts.migrate !== false) await migrateToLatest(db);
  } catch (err) {
    await db.destroy();
    await dropSchema(schema);
    throw err;
  }
  return {
    db,
    schema,
    url: dbUrl,
    options,
    async cleanup() {
      await db.destroy();
      await dropSchema(schema);
    },
  };
}

/** Drops a test schema with everything in it (nothing when it was never created). */
export async function dropSchema(schema: string): Promise<void> {
  await admin((db) => sql`DROP SCHEMA IF EXISTS ${sql.id(schema)} CASCADE`.execute(db));
}

/**
 * Drops test schemas older than `hours` (left by a run that was killed before its clean-up). Never a younger one:
 * another run may be using it right now.
 */
export async function dropStaleTestSchemas(hours = 24, now = Date.now()): Promise<string[]> {
  return admin(async (db) => {
    const { rows } = await sql<{ nspname: string }>`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'pm\\_t\\_%'`.execute(db);
    const stale = rows.map((r) => r.nspname).filter((name) => {
      const m = TEST_SCHEMA.exec(name);
      return m && now / 1000 - parseInt(m[1]!, 36) > hours * 3600;
    });
    for (const name of stale) await sql`DROP SCHEMA IF EXISTS ${sql.id(name)} CASCADE`.execute(db);
    return stale;
  });
}

/**
 * A stored abuse report with nothing but its required fields (a request row and its report row): for desk tests that
 * link reports to cases without running the intake. `id` is a request id (16 characters of [A-Za-z0-9_-]).
 */
export async function insertBareReport(db: Kysely<Database>, id: string, caseKey = 'ip-203.0.113.10'): Promise<void> {
  await db.insertInto('requests').values({ id, type: 'report', state: 'received' }).execute();
  await db
    .insertInto('reports')
    .values({ request_id: id, channel: 'api', reporter: 'test', reporter_key: 'test', category: 'spam', source_ip: '203.0.113.10', case_key: caseKey, sample_sha256: Buffer.alloc(32), summary: JSON.stringify({}) })
    .execute();
}
