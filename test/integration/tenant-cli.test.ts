import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { testContext } from '../helpers/context.js';

const run = promisify(execFile);

describe('npx postmaster tenant …', () => {
  // The CLI works in this context's Redis prefix and PostgreSQL schema; the context reads what it did.
  const ctx = testContext();
  after(() => ctx.cleanup());

  async function postmaster(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    await ctx.tenants.exists('warm-up'); // creates and migrates the schema before the CLI opens it
    try {
      const { stdout, stderr } = await run(process.execPath, ['bin/postmaster.js', ...args], { env: { ...process.env, ...ctx.processEnv(), NODE_ENV: 'test' } });
      return { code: 0, stdout, stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('adds a tenant with its domain, Feedback-ID and VERP pattern, lists them, and audits each as --as', async () => {
    const steps = [
      [['--as', 'ops-jane', 'tenant', 'add', 'acme', '--name', 'Acme Corp'], /added tenant acme \(Acme Corp\)/],
      [['--as', 'ops-jane', 'tenant', 'domain', 'add', 'acme', 'Shop.Example.'], /registered shop\.example to tenant acme/],
      [['--as', 'ops-jane', 'tenant', 'feedback-id', 'add', 'acme', 'Acme-Sender'], /registered acme-sender to tenant acme/],
      [['--as', 'ops-jane', 'tenant', 'verp', 'add', 'acme', 'bounce-*@bounces.shop.example'], /registered bounce-\*@bounces\.shop\.example to tenant acme/],
    ] as const;
    for (const [args, expected] of steps) {
      const r = await postmaster(...args);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, expected);
    }
    const list = await postmaster('--as', 'ops-jane', 'tenant', 'list');
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^acme \(Acme Corp\)\n {2}domains: shop\.example\n {2}feedback-ids: acme-sender\n {2}verp: bounce-\*@bounces\.shop\.example\n$/);
    const json = await postmaster('tenant', 'list', '--json', '--search', 'mail.shop.example');
    assert.deepEqual(JSON.parse(json.stdout).map((t: { id: string }) => t.id), ['acme']);
    const audit = (await ctx.audit.recent(50)).filter((e) => e.action.startsWith('tenant.'));
    assert.deepEqual(audit.map((e) => [e.action, e.actor]).reverse().slice(0, 5), [
      ['tenant.add', 'cli:ops-jane'], ['tenant.domain.add', 'cli:ops-jane'], ['tenant.feedback-id.add', 'cli:ops-jane'], ['tenant.verp.add', 'cli:ops-jane'], ['tenant.list', 'cli:ops-jane'],
    ]);
    const search = audit.find((e) => e.action === 'tenant.list' && e.reason === 'search mail.shop.example');
    assert.match(search?.actor ?? '', /^cli:./, 'without --as, the OS user');
    assert.deepEqual((await ctx.tenants.get('acme'))?.domains, ['shop.example']);
  });

  it('refuses bad values and conflicts with a clear message and exit 2, changing nothing', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['tenant', 'add', 'bad id'], /not a tenant id/],
      [['tenant', 'add', 'acme'], /exists already/],
      [['tenant', 'domain', 'add', 'acme', 'localhost'], /at least two labels/],
      [['tenant', 'domain', 'add', 'ghost', 'ghost.example'], /no tenant "ghost"/],
      [['tenant', 'feedback-id', 'add', 'acme', 'a:b:c'], /holds a colon/],
      [['tenant', 'verp', 'add', 'acme', '*@shop.example'], /at least one fixed character/],
      [['tenant', 'domain', 'remove', 'acme', 'other.example'], /not a sending domain of tenant acme/],
    ];
    await postmaster('tenant', 'add', 'globex');
    cases.push([['tenant', 'domain', 'add', 'globex', 'shop.example'], /registered to tenant acme already/]);
    for (const [args, message] of cases) {
      const r = await postmaster(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.deepEqual((await ctx.tenants.get('acme'))?.domains, ['shop.example']);
    const removed = await postmaster('tenant', 'domain', 'remove', 'acme', 'shop.example');
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual((await ctx.tenants.get('acme'))?.domains, []);
  });
});
