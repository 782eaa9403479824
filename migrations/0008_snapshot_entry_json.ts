import { sql, type Kysely } from 'kysely';

/**
 * Each listing and exclusion keeps its entry's JSON text (as the snapshot and the feed write it) in `entry_json`, set
 * by a trigger on every insert and update: the routing snapshot is then one `string_agg(entry_json)` per range of
 * pages, not a million `to_char`/`to_json` calls per new version (decision 0006, guard routing.snapshot_1m_ms).
 * The expressions are written out here, as a migration must not change with the code.
 */
const CIDR_TEXT = `CASE WHEN r.cidr <<= '::/80'::cidr AND strpos(abbrev(r.cidr::inet), '.') > 0 THEN
      CASE WHEN r.cidr <<= '::ffff:0:0/96'::cidr THEN abbrev(set_masklen('0.0.0.0'::inet + ((r.cidr - '::'::inet) & 4294967295), masklen(r.cidr) - 96))
      ELSE '::' || to_hex(((r.cidr - '::'::inet) >> 16) & 65535) || ':' || to_hex((r.cidr - '::'::inet) & 65535) || CASE WHEN masklen(r.cidr) = 128 THEN '' ELSE '/' || masklen(r.cidr) END END
    ELSE abbrev(r.cidr::inet) END`;
const str = (c: string) => `coalesce(to_json(r.${c})::text, 'null')`;
const iso = (c: string) => `coalesce('"' || to_char(r.${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '"', 'null')`;

const LISTING = `'{"cidr":"' || ${CIDR_TEXT} || '","category":' || ${str('category')} || ',"reason":' || ${str('reason')}
    || ',"source":' || ${str('source')} || coalesce(',"note":' || to_json(r.note)::text, '') || ',"listedAt":' || ${iso('listed_at')}
    || ',"expiresAt":' || ${iso('expires_at')} || '}'`;
const EXCLUSION = `'{"cidr":"' || ${CIDR_TEXT} || '","reason":' || ${str('reason')} || ',"source":' || ${str('source')}
    || ',"createdAt":' || ${iso('created_at')} || ',"expiresAt":' || ${iso('expires_at')} || '}'`;

async function keepJson(db: Kysely<any>, table: string, expression: string): Promise<void> {
  await sql.raw(`ALTER TABLE ${table} ADD COLUMN entry_json text`).execute(db);
  await sql.raw(`CREATE FUNCTION ${table}_entry_json() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  SELECT ${expression} INTO NEW.entry_json FROM (SELECT (NEW).*) AS r;
  RETURN NEW;
END
$fn$`).execute(db);
  await sql.raw(`CREATE TRIGGER ${table}_entry_json BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${table}_entry_json()`).execute(db);
  await sql.raw(`UPDATE ${table} SET entry_json = NULL`).execute(db); // the trigger fills it for the rows already there
  await sql.raw(`ALTER TABLE ${table} ALTER COLUMN entry_json SET NOT NULL`).execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await keepJson(db, 'blocklist_entries', LISTING);
  await keepJson(db, 'blocklist_exclusions', EXCLUSION);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['blocklist_entries', 'blocklist_exclusions']) {
    await sql.raw(`DROP TRIGGER ${table}_entry_json ON ${table}`).execute(db);
    await sql.raw(`DROP FUNCTION ${table}_entry_json()`).execute(db);
    await sql.raw(`ALTER TABLE ${table} DROP COLUMN entry_json`).execute(db);
  }
}
