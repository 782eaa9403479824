import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { assignPool } from '../../src/features/pools/service.js';
import { addTenant, addTenantItem } from '../../src/features/tenants/service.js';
import { CHROMIUM, launch, openPage, serve, shot, unlabelledControls, untiedErrors } from '../helpers/browser.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { PASSWORD } from '../helpers/staff.js';

describe('the staff list tables and tenant page in a real browser', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let ctx: TestContext;
  let server: Server;
  let base: string;
  let browser: Browser;
  let page: Page;
  before(async () => {
    ctx = testContext();
    ({ server, base } = await serve(createApp(ctx)));
    browser = await launch();
    await addListing(ctx, { target: '198.51.100.0/26', category: 'snowshoe', source: 'staff', by: 'test', expires: '3d' });
    await ctx.routing.publish([{ dataset: 'exclusions', op: 'upsert', key: '198.51.100.9', value: { cidr: '198.51.100.9', reason: 'fixed by its owner', source: 'self-service', createdAt: new Date().toISOString(), expiresAt: null } }]);
    await addTenant(ctx, { id: 'contoso', name: 'Contoso' }, 'test');
    await addTenantItem(ctx, 'contoso', 'domain', 'contoso.example', 'test');
    await assignPool(ctx, { kind: 'tenant', key: 'contoso', pool: 'high-risk', expires: '72h', reason: 'five trusted reports', source: 'policy', by: 'automation' });
    await ctx.staff.add('tables@example.net', 'triager', PASSWORD);
    page = await openPage(browser, 'en');
    await page.goto(`${base}/staff/login`);
    await page.fill('#email', 'tables@example.net');
    await page.fill('#password', PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/staff$/);
  });
  after(async () => {
    await browser?.close();
    server?.close();
    await ctx?.cleanup();
  });

  const accessible = async (where: string) => {
    assert.deepEqual(await unlabelledControls(page), [], `unlabelled controls on ${where}`);
    assert.deepEqual(await untiedErrors(page), [], `errors not tied to their fields on ${where}`);
  };

  it('edits a listing from its row, then expires it, staying on the table', async () => {
    await page.goto(`${base}/staff/lists/blocklist?category=snowshoe`);
    await accessible('the listings table');
    await page.fill('input[name="reason"][placeholder="new reason"]', 'snowshoe run from 40 hosts');
    await page.fill('input[name="expires"]', '7d');
    await page.click('form[action="/staff/lists/blocklist/edit"] button');
    await page.waitForURL(/\/staff\/lists\/blocklist\?category=snowshoe/);
    assert.match((await page.textContent('table')) ?? '', /snowshoe run from 40 hosts/);
    await page.fill('form[action="/staff/lists/blocklist/remove"] input[name="reason"]', 'cleaned up');
    await page.click('form[action="/staff/lists/blocklist/remove"] button');
    await page.waitForURL(/\/staff\/lists\/blocklist\?category=snowshoe/);
    assert.match((await page.textContent('table')) ?? '', /No listing matches/);
  });

  it('shows the other tables with labelled filters and row actions, fitting a 375 px screen', async () => {
    for (const table of ['exclusions', 'allowlist', 'pools', 'restrictions', 'tenants']) {
      await page.goto(`${base}/staff/lists/${table}`);
      await accessible(`/staff/lists/${table}`);
    }
    await page.goto(`${base}/staff/lists/exclusions?ip=300.1.2.3`);
    await accessible('a refused filter');
    assert.equal(await page.getAttribute('#f-ip', 'aria-invalid'), 'true');
    await page.goto(`${base}/staff/lists/pools`);
    await page.setViewportSize({ width: 375, height: 800 });
    const wide = await page.evaluate(() => Array.from(document.querySelectorAll('body *')).filter((el) => el.getBoundingClientRect().right > 376 && !el.closest('table')).map((el) => `${el.tagName}.${el.className}:${Math.round(el.getBoundingClientRect().right)}`).slice(0, 12));
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 375, `the table page is no wider than the phone: ${wide.join(' ')}`);
    await shot(page, 'staff-pools-375');
    await page.setViewportSize({ width: 1280, height: 900 });
    await shot(page, 'staff-pools');
  });

  it('opens the tenant page from the tenants table', async () => {
    await page.goto(`${base}/staff/lists/tenants`);
    await page.click('a[href="/staff/tenants/contoso"]');
    await page.waitForURL(/\/staff\/tenants\/contoso$/);
    await accessible('the tenant page');
    assert.match((await page.textContent('#tenant-pool')) ?? '', /high-risk/);
    await shot(page, 'staff-tenant');
  });
});
