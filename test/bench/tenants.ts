import { sql } from 'kysely';
import type { CustomerSignals } from '../../src/domain/customer.js';
import { testContext } from '../helpers/context.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * A report's customer looked up in a directory of `tenants` tenants (two domains, one Feedback-ID identifier and one
 * VERP pattern each), against `SELECT 1` on the same pool in the same run: the median of `lookups` lookups, each with
 * every kind of signal (Feedback-ID, VERP MailFrom, DKIM d=, MailFrom and From domains).
 */
export async function tenantDirectoryBench(opts: { tenants: number; lookups: number }): Promise<Array<[string, number, string]>> {
  const ctx = testContext();
  try {
    const n = opts.tenants;
    await sql`INSERT INTO tenants (id, name) SELECT 'tenant-' || i, 'Tenant ' || i FROM generate_series(0, ${n - 1}::int) i`.execute(ctx.db);
    await sql`INSERT INTO tenant_domains (domain, tenant_id) SELECT 'shop' || i || '.example', 'tenant-' || i FROM generate_series(0, ${n - 1}::int) i
              UNION ALL SELECT 'mail' || i || '.example', 'tenant-' || i FROM generate_series(0, ${n - 1}::int) i`.execute(ctx.db);
    await sql`INSERT INTO tenant_feedback_ids (identifier, tenant_id) SELECT 'sender-' || i, 'tenant-' || i FROM generate_series(0, ${n - 1}::int) i`.execute(ctx.db);
    await sql`INSERT INTO tenant_verp_patterns (pattern, tenant_id) SELECT 'bounce-' || i || '-*@bounces.shop' || i || '.example', 'tenant-' || i FROM generate_series(0, ${n - 1}::int) i`.execute(ctx.db);
    await sql`ANALYZE`.execute(ctx.db);
    const signals = (i: number): CustomerSignals => ({
      tenantHeader: null,
      customer: { feedbackIds: [`camp${i}:cust:x:sender-${i}`], dkim: [{ domain: `news.shop${i}.example`, identity: null, selector: 's1' }], mailFromDomain: `bounces.shop${i}.example`, fromDomain: `mail${i}.example` },
      mailFrom: `bounce-${i}-abc123@bounces.shop${i}.example`,
    });
    const lookups: number[] = [];
    const baseline: number[] = [];
    for (let k = 0; k < opts.lookups; k++) {
      const i = (k * 7919) % n;
      let t0 = performance.now();
      const found = await ctx.tenants.findCustomer(signals(i));
      lookups.push(performance.now() - t0);
      if (found?.tenant !== `tenant-${i}` || found.signal !== 'feedback-id') throw new Error(`lookup ${i} found ${JSON.stringify(found)}`);
      t0 = performance.now();
      await sql`SELECT 1`.execute(ctx.db);
      baseline.push(performance.now() - t0);
    }
    const round = (x: number) => Math.round(x * 100) / 100;
    return [
      ['tenant.find_customer_median_ms', round(median(lookups)), `ms (${n} tenants, ${opts.lookups} lookups)`],
      ['tenant.select1_baseline_median_ms', round(median(baseline)), 'ms'],
    ];
  } finally {
    await ctx.cleanup();
  }
}
