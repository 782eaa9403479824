import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { createApp } from '../../src/app.js';
import { CHROMIUM, launch, serve, shot, closeAll } from '../helpers/browser.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { PASSWORD } from '../helpers/staff.js';

const HOUR = 3_600_000;

/** The dashboard in a real browser: Chart.js loads from our origin under the CSP, and the days follow the reader's zone. */
describe('the staff dashboard in a real browser (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let ctx: TestContext;
  let server: Server;
  let base: string;
  let browser: Browser;
  before(async () => {
    ctx = testContext();
    const now = Date.now();
    for (let i = 0; i < 40; i++) await ctx.db.insertInto('requests').values({ id: `dash-e2e-${String(i).padStart(7, '0')}`, type: i % 4 ? 'delist' : 'unblock', state: 'queued', created_at: new Date(now - (i * 7 % 60) * HOUR) }).execute();
    for (let i = 0; i < 6; i++) await ctx.tickets.openIn(ctx.db, { id: `t-dash-e2e-${i}`, kind: i % 2 ? 'delist-review' : 'abuse-case', caseKey: i % 2 ? undefined : `e2e-${i}`, subject: `Ticket ${i}`, reason: 'test' }, new Date(now - i * 6 * HOUR));
    await ctx.staff.add('dash@example.net', 'viewer', PASSWORD);
    ({ server, base } = await serve(createApp(ctx)));
    browser = await launch();
  });
  after(() => closeAll({ browser, server, ctx }));

  it('draws every chart, keeps the numbers a click away, and counts the days in the reader\'s time zone', async () => {
    const context = await browser.newContext({ locale: 'en', timezoneId: 'Asia/Seoul' });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${base}/staff/login`);
    await page.fill('#email', 'dash@example.net');
    await page.fill('#password', PASSWORD);
    await page.click('form[action="/staff/login"] button[type=submit]');
    await page.waitForURL(/\/staff$/);
    await page.click('header.site nav a[href="/staff/dashboard"]');
    await page.locator('#chart-days').waitFor({ state: 'visible' });
    for (const id of ['chart-sla', 'chart-hours', 'chart-days']) {
      const box = await page.locator(`#${id}`).boundingBox();
      assert.ok(box && box.width > 100 && box.height > 100, `${id} is drawn (${JSON.stringify(box)})`);
    }
    assert.match((await page.textContent('#dash-zone')) ?? '', /Asia\/Seoul/);
    // The tables are closed once the charts are drawn, and open on a click; their numbers are the server's.
    assert.equal(await page.locator('details[data-table][open]').count(), 0);
    const days = page.locator('#table-days');
    await page.click('#h-days ~ details summary');
    assert.ok(await days.isVisible());
    const total = await days.locator('tfoot td').allTextContents();
    assert.deepEqual(total.map(Number), [0, 30, 3, 10], 'reports, delists, reviews, unblocks over 30 days');
    const seoulToday = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Seoul', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
    assert.equal(await days.locator('tbody tr:last-child th').textContent(), seoulToday);
    assert.match((await page.locator('#table-hours tbody tr:last-child th time').textContent()) ?? '', /GMT\+9|KST/);
    await shot(page, 'staff-dashboard');
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForFunction(() => document.documentElement.scrollWidth <= 375, undefined, { timeout: 2000 }).catch(() => undefined); // Chart.js resizes on its observer
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 375, 'no wider than a phone');
    await shot(page, 'staff-dashboard-375');
    assert.deepEqual(problems, [], 'no script error and nothing the CSP refused');
    await context.close();
  });
});
