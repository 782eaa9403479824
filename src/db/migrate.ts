/**
 * `npm run migrate`: applies the pending migrations (migrations/) to DATABASE_URL, the production way; with
 * DATABASE_URL unset (development only), to the embedded default of src/db/embedded.ts. Prints what ran.
 */
import { createDb, ensureSchema, SCHEMA_NAME } from './connection.js';
import { ensurePostgres, type PostgresHandle } from './embedded.js';
import { migrateToLatest, pendingMigrations } from './migrator.js';

const schema = process.env.DATABASE_SCHEMA || undefined;
if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
  process.stderr.write('Invalid configuration:\n  DATABASE_SCHEMA: lower-case letters, digits and _ only, at most 40 characters\n');
  process.exit(78); // EX_CONFIG
}
if (process.env.NODE_ENV === 'production' && !process.env.DATABASE_URL) {
  process.stderr.write('Invalid configuration:\n  DATABASE_URL: is required in production\n');
  process.exit(78); // EX_CONFIG
}
let handle: PostgresHandle;
try {
  handle = await ensurePostgres(process.env.DATABASE_URL);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(69); // EX_UNAVAILABLE
}
// The schema the roles work in (DATABASE_SCHEMA, as src/db/open.ts reads it), created when missing.
const db = createDb({ url: handle.url, max: 1, applicationName: 'postmaster-migrate', ...(schema && { searchPath: schema }) });
let code = 0;
try {
  if (schema) await ensureSchema(db, schema);
  const results = await migrateToLatest(db);
  for (const r of results) process.stdout.write(`applied ${r.migrationName}\n`);
  if (!results.length) process.stdout.write('nothing to apply: the schema is current\n');
  const left = await pendingMigrations(db);
  if (left.length) throw new Error(`still pending: ${left.join(', ')}`);
} catch (err) {
  process.stderr.write(`${(err as Error).message}\n`);
  code = 1;
} finally {
  await db.destroy();
  await handle.stop();
}
process.exit(code);
