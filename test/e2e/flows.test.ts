import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { addListing } from '../../src/features/blocklist/service.js';
import { restrictTenant } from '../../src/features/unblock/service.js';
import { CHROMIUM, launch, openPage, serve, shot, tabTo, unlabelledControls, untiedErrors } from '../helpers/browser.js';
import { messageFromTenant } from '../helpers/messages.js';
import { startPortal } from '../helpers/portal.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';
import { PASSWORD } from '../helpers/staff.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;

describe('in a real browser (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let portal: Portal;
  let server: Server;
  let base: string;
  let browser: Browser;
  before(async () => {
    portal = await startPortal();
    ({ server, base } = await serve(portal.app));
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    server?.close();
    await portal?.stop();
  });

  const pageIn = (lang: string): Promise<Page> => openPage(browser, lang);
  const linkIn = async (to: string, pattern: RegExp) => {
    const mail = await portal.smtp.waitFor((m) => m.to.includes(to) && pattern.test(decodeQuotedPrintable(m.raw)));
    return new URL(pattern.exec(decodeQuotedPrintable(mail.raw))![0], 'http://x').pathname;
  };
  const accessible = async (page: Page, where: string) => {
    assert.deepEqual(await unlabelledControls(page), [], `unlabelled controls on ${where}`);
    assert.deepEqual(await untiedErrors(page), [], `errors not tied to their fields on ${where}`);
  };

  for (const lang of ['en', 'ko']) {
    it(`delists an IP by keyboard alone, in ${lang}`, async () => {
      const ip = lang === 'en' ? '198.51.100.201' : '198.51.100.202';
      const email = `browser-${lang}@example.org`;
      await addListing(portal.ctx, { target: ip, category: 'spam-source', source: 'test', by: 'test' });
      const page = await pageIn(lang);
      await page.goto(`${base}/delist`);
      assert.equal(await page.getAttribute('html', 'lang'), lang);
      await accessible(page, '/delist');

      await tabTo(page, '#email');
      await page.keyboard.type('not-an-email');
      await tabTo(page, '#ip');
      await page.keyboard.type('10.0.0.1');
      await page.keyboard.press('Enter');
      // The refused form comes back as a new page: wait for it, not for the load state of the one being left.
      await page.locator('#ip[aria-invalid="true"]').waitFor({ timeout: 10_000 });
      assert.equal(await page.getAttribute('#ip', 'aria-invalid'), 'true');
      await accessible(page, 'the refused form');
      await shot(page, `delist-errors-${lang}`);

      await page.fill('#email', email);
      await page.fill('#ip', ip);
      await page.focus('#ip');
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/delist\/sent$/);
      await shot(page, `delist-sent-${lang}`);

      await page.goto(base + (await linkIn(email, /\/delist\/confirm\/[A-Za-z0-9_-]{43}/)));
      await shot(page, `delist-confirm-${lang}`);
      await tabTo(page, 'form[action^="/delist/confirm"] button[type=submit]');
      await page.keyboard.press('Enter');
      await page.waitForURL(/\/status\/[A-Za-z0-9_-]{16}$/);
      const id = page.url().split('/').pop()!;
      for (let i = 0; i < 50 && (await portal.ctx.requests.get(id))?.state !== 'delisted'; i++) await new Promise((r) => setTimeout(r, 100));
      await page.reload();
      assert.equal(await page.getAttribute('.state', 'class'), 'state state-delisted');
      await shot(page, `delist-status-${lang}`);
    });
  }

  for (const lang of ['en', 'zh-TW']) {
    it(`reports junk mail with an upload and shows the preview, in ${lang}`, async () => {
      const email = `reporter-${lang.toLowerCase()}@example.org`;
      const page = await pageIn(lang);
      await page.goto(`${base}/report`);
      assert.equal(await page.getAttribute('html', 'lang'), lang);
      await accessible(page, '/report');
      await page.fill('#email', email);
      await page.setInputFiles('#sample', { name: 'spam.eml', mimeType: 'message/rfc822', buffer: Buffer.from(messageFromTenant({ tenant: `e2e-${lang}`, messageId: `<e2e-${lang}@shop.example.com>` })) });
      await page.selectOption('#category', 'phishing');
      await page.click('form[action="/report"] button[type=submit]');
      await page.waitForURL(/\/report\/preview\//);
      const preview = await page.textContent('main');
      for (const shown of ['203.0.113.10', `e2e-${lang}`, 'bounces@mailer.example.com', 'deals@shop.example.com']) assert.ok(preview?.includes(shown), `preview shows ${shown}`);
      await shot(page, `report-preview-${lang}`);
      await page.click('form[action^="/report/preview"] button[type=submit]');
      await page.waitForURL(/\/report\/sent$/);
      await page.goto(base + (await linkIn(email, /\/report\/confirm\/[A-Za-z0-9_-]{43}/)));
      await page.click('form[action^="/report/confirm"] button[type=submit]');
      await page.waitForURL(/\/status\//);
      await shot(page, `report-status-${lang}`);
    });
  }

  it('sends a tenant unblock request, in ko, with the switcher keeping the language', async () => {
    await restrictTenant(portal.ctx, 'e2e-blocked', 'relayed spam', 'test');
    const page = await pageIn('en');
    await page.goto(`${base}/unblock`);
    await page.click('a[hreflang="ko"]');
    await page.locator('html[lang="ko"]').waitFor({ timeout: 10_000 });
    assert.equal(await page.getAttribute('html', 'lang'), 'ko');
    await page.goto(`${base}/unblock`);
    assert.equal(await page.getAttribute('html', 'lang'), 'ko', 'the choice is kept');
    await accessible(page, '/unblock');
    await page.fill('#tenant', 'e2e-blocked');
    await page.fill('#email', 'it@blocked.example');
    for (const box of ['#domainsRegistered', '#connectorsReviewed', '#serversLockedDown']) await page.check(box);
    await page.fill('#evidence', 'We removed a rogue inbound connector and patched our on-premises Exchange servers.');
    await page.click('form[action="/unblock"] button[type=submit]');
    await page.waitForURL(/\/unblock\/sent$/);
    await page.goto(base + (await linkIn('it@blocked.example', /\/unblock\/confirm\/[A-Za-z0-9_-]{43}/)));
    await page.click('form[action^="/unblock/confirm"] button[type=submit]');
    await page.waitForURL(/\/status\//);
    await shot(page, 'unblock-status-ko');
  });

  it('lets a triager sign in and approve the unblock from the queue', async () => {
    await portal.ctx.staff.add('e2e-triager@example.net', 'triager', PASSWORD);
    const page = await pageIn('en');
    await page.goto(`${base}/staff`);
    await page.waitForURL(/\/staff\/login/);
    await page.fill('#email', 'e2e-triager@example.net');
    await page.fill('#password', PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/staff$/);
    await accessible(page, '/staff');
    // On a 375 px phone the queue fits the screen: tables scroll inside their box, the page does not.
    await page.setViewportSize({ width: 375, height: 800 });
    assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 375, 'the queue page is no wider than the phone');
    await shot(page, 'staff-queue-375');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.click('a:has-text("Unblock tenant e2e-blocked")');
    await page.waitForURL(/\/staff\/tickets\//);
    await shot(page, 'staff-ticket');
    await page.click('form:has(input[value="approve-unblock"]) button');
    await page.locator('main', { hasText: /closed/ }).waitFor({ timeout: 10_000 });
    assert.match((await page.textContent('main')) ?? '', /closed/);
    const restriction = (await portal.ctx.routing.snapshot()).restrictions.find((r) => r.tenant === 'e2e-blocked');
    assert.equal(restriction?.state, 'probation');
    await shot(page, 'staff-ticket-approved');
  });
});
