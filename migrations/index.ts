import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.js';
import * as m0002 from './0002_routing.js';
import * as m0003 from './0003_records.js';
import * as m0004 from './0004_desk.js';
import * as m0005 from './0005_desk_keys.js';
import * as m0006 from './0006_tenant_directory.js';
import * as m0007 from './0007_listing_indexes.js';
import * as m0008 from './0008_snapshot_entry_json.js';
import * as m0009 from './0009_contact_conversation.js';
import * as m0010 from './0010_list_tables.js';
import * as m0011 from './0011_dashboard_indexes.js';
import * as m0012 from './0012_message_keys.js';

/**
 * Every migration, by name, in order. A new migration is a file `NNNN_name.ts` here and a line below
 * (test/db/migrations.test.ts fails when a file is missing from this list). A static list rather than Kysely's
 * FileMigrationProvider: the migrations are type-checked with the rest of the code and load the same way under tsx
 * or any bundler.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_routing': m0002,
  '0003_records': m0003,
  '0004_desk': m0004,
  '0005_desk_keys': m0005,
  '0006_tenant_directory': m0006,
  '0007_listing_indexes': m0007,
  '0008_snapshot_entry_json': m0008,
  '0009_contact_conversation': m0009,
  '0010_list_tables': m0010,
  '0011_dashboard_indexes': m0011,
  '0012_message_keys': m0012,
};
