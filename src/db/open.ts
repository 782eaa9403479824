/**
 * Opening the system of record for a process: the server found by the embedded rule (src/db/embedded.ts), a pool
 * in the configured schema, and the schema brought up to date. Outside production the schema is created when
 * missing and migrated at start; production runs `npm run migrate` and refuses to start on a schema with pending
 * migrations, so two versions of the code never write one schema.
 */
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import { createDb, ensureSchema } from './connection.js';
import { ensurePostgres, type PostgresHandle } from './embedded.js';
import { migrateToLatest, pendingMigrations } from './migrator.js';
import type { Database } from './schema.js';

export interface OpenDatabase {
  db: Kysely<Database>;
  handle: PostgresHandle;
  /** Closes the pool, then stops a private cluster this process started. */
  close(): Promise<void>;
}

/** Thrown when the schema is behind the code in production (the operator runs `npm run migrate`). */
export class SchemaBehindError extends Error {
  readonly code = 'SCHEMA_BEHIND';
}

export async function openDatabase(config: Pick<Config, 'env' | 'databaseUrl' | 'databaseSchema'>, applicationName: string, onError?: (err: Error) => void): Promise<OpenDatabase> {
  const handle = await ensurePostgres(config.databaseUrl);
  const db = createDb({ url: handle.url, ...(config.databaseSchema && { searchPath: config.databaseSchema }), applicationName, ...(onError && { onError }) });
  const close = async () => {
    await db.destroy();
    await handle.stop();
  };
  try {
    if (config.env === 'production') {
      const pending = await pendingMigrations(db);
      if (pending.length) throw new SchemaBehindError(`The database schema is behind this version (pending: ${pending.join(', ')}). Run npm run migrate first.`);
    } else {
      if (config.databaseSchema) await ensureSchema(db, config.databaseSchema);
      await migrateToLatest(db);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { db, handle, close };
}
