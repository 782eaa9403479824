import { Migrator, NO_MIGRATIONS, sql, type Kysely, type MigrationResult } from 'kysely';
import { migrations } from '../../migrations/index.js';

/** The schema the connection works in (the first existing one of its search_path). */
export async function currentSchema(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ schema: string | null }>`SELECT current_schema() AS schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('The connection has no schema: the schema its search_path names does not exist.');
  return schema;
}

/** Kysely's Migrator over the repository's migrations, keeping its bookkeeping tables in the connection's schema. */
export async function createMigrator(db: Kysely<any>): Promise<Migrator> {
  return new Migrator({ db, provider: { getMigrations: async () => migrations }, migrationTableSchema: await currentSchema(db) });
}

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
}

function check(results: MigrationResult[] | undefined, error: unknown): MigrationResult[] {
  if (error) {
    const failed = results?.find((r) => r.status === 'Error');
    throw new MigrationError(`Migration ${failed ? `${failed.migrationName} ` : ''}failed: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
  return results ?? [];
}

/**
 * Applies every pending migration, all in one transaction (PostgreSQL's DDL is transactional: a failure leaves the
 * schema as it was) under Kysely's advisory lock, so processes starting together migrate once. Returns what ran
 * (empty when the schema was already current). Development runs this at start; production runs `npm run migrate`.
 */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResult[]> {
  if (await upToDate(db)) return [];
  for (let attempt = 1; ; attempt++) {
    const { results, error } = await (await createMigrator(db)).migrateToLatest();
    if (!error || attempt >= 8 || !isCatalogRace(error, await currentSchema(db))) return check(results, error);
    await new Promise((r) => setTimeout(r, 25 * attempt + Math.random() * 50));
  }
}

/**
 * Whether every migration is recorded as applied, read straight from the bookkeeping table of the connection's
 * schema. Kysely's Migrator first looks for its tables with a catalog scan over every schema of the database, which
 * grows with the database (and every process start pays it): the common case, nothing to apply, skips it.
 */
async function upToDate(db: Kysely<any>): Promise<boolean> {
  try {
    const { rows } = await sql<{ name: string }>`SELECT name FROM ${sql.table(`${await currentSchema(db)}.kysely_migration`)}`.execute(db);
    const applied = new Set(rows.map((r) => r.name));
    return Object.keys(migrations).every((name) => applied.has(name));
  } catch (err) {
    if ((err as { code?: string }).code === '42P01') return false; // no bookkeeping table yet: a new schema
    throw err;
  }
}

/**
 * Kysely's migrator looks for its bookkeeping tables by introspecting every table of the database, with catalog
 * functions that fail when another schema or table of the same database is dropped or altered at that moment
 * ("schema … does not exist", "column … of relation … does not exist"). That happens where many schemas share one
 * database (the tests: a schema per file); the migration runs in one transaction, so nothing is half-done and the
 * run is simply tried again. An error naming our own schema is real and is not retried.
 */
function isCatalogRace(error: unknown, ownSchema: string): boolean {
  const message = String((error as Error)?.message ?? error);
  return /does not exist/.test(message) && !message.includes(`"${ownSchema}"`);
}

/** Undoes every migration (tests of the migrations themselves); tried again on a catalog race, as migrateToLatest. */
export async function migrateDownToEmpty(db: Kysely<any>): Promise<MigrationResult[]> {
  for (let attempt = 1; ; attempt++) {
    const { results, error } = await (await createMigrator(db)).migrateTo(NO_MIGRATIONS);
    if (!error || attempt >= 8 || !isCatalogRace(error, await currentSchema(db))) return check(results, error);
    await new Promise((r) => setTimeout(r, 25 * attempt + Math.random() * 50));
  }
}

/** Names of the migrations not applied yet (production start can refuse to run on an old schema). */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  if (await upToDate(db)) return [];
  for (let attempt = 1; ; attempt++) {
    try {
      const all = await (await createMigrator(db)).getMigrations();
      return all.filter((m) => !m.executedAt).map((m) => m.name);
    } catch (err) {
      // The same catalog scan as migrateToLatest's, so the same race (a read: simply read again).
      if (attempt >= 8 || !isCatalogRace(err, await currentSchema(db))) throw err;
      await new Promise((r) => setTimeout(r, 25 * attempt + Math.random() * 50));
    }
  }
}
