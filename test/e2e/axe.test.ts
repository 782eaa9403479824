import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Browser, Page } from 'playwright-core';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { submitMachineReport } from '../../src/features/report/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { processIngestReport } from '../../worker/processors/ingest-report.js';
import { CHROMIUM, launch, openPage, serve, closeAll } from '../helpers/browser.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { messageFromTenant } from '../helpers/messages.js';
import { challengeToken } from '../helpers/portal.js';
import { PASSWORD } from '../helpers/staff.js';

/**
 * Issue 17, "Accessible": axe-core (the npm package, injected into each page by playwright-core on Debian's chromium)
 * finds no violation on any public page, in each public language, nor on any staff page. Public pages are reached as a
 * visitor reaches them (forms filled and sent, links from the challenge); staff pages are the ones the staff header
 * links to (so a page added to the header is covered), plus the tenants table, a tenant, tickets, an address and an
 * error page. One browser; one
 * page per language, reused.
 */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const LISTED = '198.51.100.7';
const NDR = `Delivery has failed to these recipients or groups:\n\nuser@example.com\n\nRemote server returned '550 5.7.606 Access denied, banned sending IP [${LISTED}]'\n`;

type AxeRule = { id: string; impact: string | null; help: string; nodes: Array<{ target: string[]; failureSummary?: string }> };

/**
 * Runs axe (every rule of the default set: WCAG 2.x A and AA, and axe's best practices) over the page as it is now:
 * one readable line per rule violated, naming up to 3 elements. A rule axe could not decide ("incomplete", for a
 * person to review) counts too: an aria-current="&quot;page&quot;" and a header-only table hid there.
 */
async function violations(page: Page, where: string): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const result = (await page.evaluate(() => (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<unknown> } }).axe.run(document, { resultTypes: ['violations', 'incomplete'] }))) as { violations: AxeRule[]; incomplete: AxeRule[] };
  const line = (kind: string) => (v: AxeRule) => {
    const nodes = v.nodes.slice(0, 3).map((n) => `${n.target.join(' ')}${n.failureSummary ? ` [${n.failureSummary.replace(/\s+/g, ' ').slice(0, 160)}]` : ''}`);
    return `${where}: ${kind} ${v.id} (${v.impact}) ${v.help} — ${nodes.join('; ')}${v.nodes.length > 3 ? ` and ${v.nodes.length - 3} more` : ''}`;
  };
  return [...result.violations.map(line('violation')), ...result.incomplete.map(line('to review'))];
}

describe('axe-core finds no accessibility violation (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let ctx: TestContext;
  let server: Server;
  let base: string;
  let browser: Browser;
  before(async () => {
    ctx = testContext();
    await addListing(ctx, { target: LISTED, category: 'spam-source', source: 'test', by: 'test' });
    await addListing(ctx, { target: '198.51.100.8', category: 'manual', source: 'test', by: 'test' });
    await restrictTenant(ctx, 'axe-blocked', 'relayed spam', 'test');
    ({ server, base } = await serve(createApp(ctx)));
    browser = await launch();
  });
  after(() => closeAll({ browser, server, ctx }));

  const newestRequest = async (email: string): Promise<string> => {
    const row = await ctx.db.selectFrom('requests').select('id').where('email', '=', email).orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    return row.id;
  };

  for (const lang of ['en', 'ko', 'zh-TW']) {
    it(`on every public page, in ${lang}`, async () => {
      const page = await openPage(browser, lang);
      const found: string[] = [];
      const check = async (where: string) => {
        assert.equal(await page.getAttribute('html', 'lang'), lang, `${where} is in ${lang}`);
        found.push(...(await violations(page, `${where} [${lang}]`)));
      };
      const visit = async (path: string, where = path) => {
        await page.goto(base + path);
        await check(where);
      };
      const email = `axe-${lang.toLowerCase()}@example.org`;

      await visit('/', 'home');
      await visit('/delist');
      await page.fill('#email', 'not-an-email');
      await page.fill('#ip', '10.0.0.1');
      await page.click('form[action="/delist"] button[type=submit]');
      await page.locator('#ip[aria-invalid="true"]').waitFor();
      await check('/delist with errors');
      await page.fill('#email', email);
      await page.fill('#ip', LISTED);
      await page.click('form[action="/delist"] button[type=submit]');
      await page.waitForURL(/\/delist\/sent$/);
      await check('/delist/sent');
      await visit(`/delist/confirm/${await challengeToken(ctx, await newestRequest(email))}`, '/delist/confirm');
      await page.click('form[action^="/delist/confirm"] button[type=submit]');
      await page.waitForURL(/\/status\/[A-Za-z0-9_-]{16}$/);
      await check('/status (delist, queued)');
      // A staff-only category: the confirmation page offers to send the request to staff instead.
      await visit('/delist');
      await page.fill('#email', email);
      await page.fill('#ip', '198.51.100.8');
      await page.click('form[action="/delist"] button[type=submit]');
      await page.waitForURL(/\/delist\/sent$/);
      await visit(`/delist/confirm/${await challengeToken(ctx, await newestRequest(email))}`, '/delist/confirm (staff only)');

      await visit('/report');
      await page.fill('#email', email);
      await page.setInputFiles('#sample', { name: 'spam.eml', mimeType: 'message/rfc822', buffer: Buffer.from(messageFromTenant({ tenant: `axe-${lang}`, messageId: `<axe-${lang}@shop.example.com>` })) });
      await page.click('form[action="/report"] button[type=submit]');
      await page.waitForURL(/\/report\/preview\//);
      await check('/report/preview');
      await page.click('form[action^="/report/preview"] button[type=submit]');
      await page.waitForURL(/\/report\/sent$/);
      await check('/report/sent');
      await visit(`/report/confirm/${await challengeToken(ctx, await newestRequest(email))}`, '/report/confirm');
      await page.click('form[action^="/report/confirm"] button[type=submit]');
      await page.waitForURL(/\/status\//);
      await check('/status (report)');

      await visit('/unblock');
      const unblockEmail = `it-${lang.toLowerCase()}@blocked.example`;
      await page.fill('#tenant', 'axe-blocked');
      await page.fill('#email', unblockEmail);
      for (const box of ['#domainsRegistered', '#connectorsReviewed', '#serversLockedDown']) await page.check(box);
      await page.fill('#evidence', 'We removed a rogue inbound connector and patched our on-premises servers.');
      await page.click('form[action="/unblock"] button[type=submit]');
      await page.waitForURL(/\/unblock\/sent$/);
      await check('/unblock/sent');
      await visit(`/unblock/confirm/${await challengeToken(ctx, await newestRequest(unblockEmail))}`, '/unblock/confirm');

      await visit('/lookup');
      await visit(`/lookup?ip=${LISTED}`, '/lookup (listed)');
      await visit('/lookup?ip=198.51.100.200', '/lookup (not listed)');
      await visit('/bounce');
      await page.fill('#text', NDR);
      await page.click('form[action="/bounce"] button[type=submit]');
      await page.locator('#bounce-verdict').waitFor();
      await check('/bounce (read)');
      await visit('/pools/explain');
      await page.fill('#headers', messageFromTenant({ tenant: 'axe-tenant', messageId: '<axe-pool@shop.example.com>' }).split('\r\n\r\n')[0]!);
      await page.click('form[action="/pools/explain"] button[type=submit]');
      await page.waitForLoadState('load');
      await check('/pools/explain (explained)');

      await visit('/contact');
      await page.click('form[action="/contact"] button[type=submit]');
      await page.locator('[aria-invalid="true"]').first().waitFor();
      await check('/contact with errors');
      await page.fill('#email', email);
      await page.fill('#name', 'Axe Tester');
      await page.fill('#message', 'A question about a listing that I would like a person to read.');
      await page.click('form[action="/contact"] button[type=submit]');
      await page.waitForURL(/\/contact\/sent\//);
      await check('/contact/sent');

      await visit('/no-such-page', 'the 404 page');
      await visit(`/delist/confirm/${'A'.repeat(43)}`, 'an unknown confirmation link');
      await visit('/status/AAAAAAAAAAAAAAAA', 'an unknown status page');
      await page.context().close();
      assert.deepEqual(found, []);
    });
  }

  it('on every staff page the staff header links to, and on a ticket, an address and an error page', async () => {
    await ctx.staff.add('axe-admin@example.net', 'admin', PASSWORD);
    await ctx.tickets.openIn(ctx.db, { id: 't-axe-review', kind: 'delist-review', subject: `Review ${LISTED}`, reason: 'staff-only category', ip: LISTED, email: 'owner@example.org', category: 'manual' });
    // An abuse case with two reports as its evidence, taken in as the API and the worker take them.
    for (const n of [1, 2]) {
      const { id } = await submitMachineReport(ctx, Buffer.from(messageFromTenant({ tenant: 'axe-case', messageId: `<axe-case-${n}@shop.example.com>` })), { channel: 'api', apiTokenName: 'axe', clientIp: '192.0.2.50' });
      await processIngestReport(ctx, { requestId: id });
    }
    const abuseCase = (await ctx.tickets.query({ state: 'open', kind: 'abuse-case', sort: 'sla', filters: { tenant: 'axe-case' }, limit: 1 })).tickets[0]!;
    assert.equal((await ctx.tickets.reports(abuseCase.id)).length, 2);
    const page = await openPage(browser, 'en');
    const found: string[] = [];
    const visit = async (path: string, status = 200) => {
      assert.equal((await page.goto(base + path))?.status(), status, path);
      found.push(...(await violations(page, path)));
    };
    await visit('/staff/login');
    await page.fill('#email', 'axe-admin@example.net');
    await page.fill('#password', PASSWORD);
    await page.click('form[action="/staff/login"] button[type=submit]');
    await page.waitForURL(/\/staff$/);
    found.push(...(await violations(page, '/staff')));
    // bull-board (/staff/queues) is a separate application of its own, mounted as it ships: not our markup to fix.
    const linked = await page.$$eval('header.site nav a', (as) => as.map((a) => new URL((a as HTMLAnchorElement).href).pathname + new URL((a as HTMLAnchorElement).href).search));
    const pages = [...new Set(linked)].filter((p) => p !== '/staff' && !p.startsWith('/staff/queues'));
    assert.ok(pages.includes('/staff/dashboard') && pages.includes('/staff/audit'), `the header links ${pages.join(', ')}`);
    for (const p of pages) {
      await page.goto(base + p);
      // The dashboard draws its charts from its JSON: check the page as a reader sees it once they are drawn.
      if (p === '/staff/dashboard') await page.locator('#chart-hours').waitFor({ state: 'visible' });
      found.push(...(await violations(page, p)));
    }
    // The dashboard without its scripts (no JavaScript, or Chart.js not loaded): the tables are the page.
    await page.route(/\/(staff-dashboard|chart\.umd\.min)\.js$/, (route) => route.abort());
    await page.goto(`${base}/staff/dashboard`);
    assert.equal(await page.locator('details[data-table][open]').count(), 3, 'SLA, per hour, per day (no tenant had a trusted report)');
    found.push(...(await violations(page, '/staff/dashboard without its scripts')));
    await page.unroute(/\/(staff-dashboard|chart\.umd\.min)\.js$/);
    await visit('/staff/lists/tenants');
    await visit('/staff/tenants/axe-case');
    await visit('/staff/tickets/t-axe-review');
    await visit(`/staff/tickets/${abuseCase.id}`);
    await visit(`/staff/address/${LISTED}`);
    await visit('/staff/tickets/no-such-ticket', 404);
    await page.context().close();
    assert.deepEqual(found, []);
  });
});
