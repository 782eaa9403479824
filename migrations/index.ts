import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0004 from './0004_desk.js';
import * as m0006 from './0006_tenant_directory.js';

/**
 * Every migration, by name, in order. A new migration is a file `NNNN_name.ts` here and a line below
 * (test/db/migrations.test.ts fails when a file is missing from this list). A static list rather than Kysely's
 * FileMigrationProvider: the migrations are type-checked with the rest of the code and load the same way under tsx
 * or any bundler.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0004_desk': m0004,
  '0006_tenant_directory': m0006,
};
