import { sql, type Kysely } from 'kysely';

/**
 * The tenant directory's values are checked by the database as the store checks them (src/domain/tenants.ts):
 * lengths, Feedback-ID identifiers (one colon-free part, lower case), and VERP patterns as address globs
 * (`*` in the local part only), which the store matches with LIKE (never as regular expressions) among the
 * patterns of the address's domain.
 */
const UP = [
  `ALTER TABLE tenants ADD CONSTRAINT tenants_name_length CHECK (char_length(name) <= 200)`,
  `ALTER TABLE tenant_domains ADD CONSTRAINT tenant_domains_syntax
     CHECK (char_length(domain) <= 253 AND domain ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$')`,
  `ALTER TABLE tenant_feedback_ids ADD CONSTRAINT tenant_feedback_ids_syntax CHECK (identifier ~ '^[a-z0-9][a-z0-9._+=/-]{0,63}$')`,
  `ALTER TABLE tenant_verp_patterns ADD CONSTRAINT tenant_verp_patterns_syntax
     CHECK (char_length(pattern) <= 254 AND pattern ~ '^[a-z0-9!#$&''+/=?^_\`{|}~.*-]{1,64}@[a-z0-9.-]+$' AND pattern ~ '^[^@]*[^*@][^@]*@')`,
  `ALTER TABLE tenant_contacts ADD CONSTRAINT tenant_contacts_email_length CHECK (char_length(email) <= 254 AND char_length(name) <= 200)`,
  // A report's 5321.MailFrom is matched only against the patterns of its own domain (the part after @ is fixed).
  `CREATE INDEX tenant_verp_patterns_domain ON tenant_verp_patterns (split_part(pattern, '@', 2))`,
];

const DOWN = [
  `DROP INDEX tenant_verp_patterns_domain`,
  `ALTER TABLE tenant_contacts DROP CONSTRAINT tenant_contacts_email_length`,
  `ALTER TABLE tenant_verp_patterns DROP CONSTRAINT tenant_verp_patterns_syntax`,
  `ALTER TABLE tenant_feedback_ids DROP CONSTRAINT tenant_feedback_ids_syntax`,
  `ALTER TABLE tenant_domains DROP CONSTRAINT tenant_domains_syntax`,
  `ALTER TABLE tenants DROP CONSTRAINT tenants_name_length`,
];

export async function up(db: Kysely<any>): Promise<void> {
  for (const statement of UP) await sql.raw(statement).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const statement of DOWN) await sql.raw(statement).execute(db);
}
