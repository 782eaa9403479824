import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { translator } from '../../src/i18n/index.js';
import { CHROMIUM, launch, openPage, serve, shot, closeAll } from '../helpers/browser.js';
import { testContext, type TestContext } from '../helpers/context.js';
import { messageFromTenant } from '../helpers/messages.js';

/** Issue 16, first slice, in a real browser: Korean line breaking and fonts, IME input, the switcher, focus, an over-size upload. */
const MB = 1024 * 1024;

describe('issue 16 details in a real browser (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let ctx: TestContext;
  let server: Server;
  let base: string;
  let browser: Browser;
  before(async () => {
    ctx = testContext({ policy: (p) => ({ ...p, samples: { ...p.samples, maxBytes: MB } }) });
    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', source: 'test', by: 'test' });
    ({ server, base } = await serve(createApp(ctx)));
    browser = await launch();
  });
  after(() => closeAll({ browser, server, ctx }));

  const pageIn = (lang: string): Promise<Page> => openPage(browser, lang);

  it('keeps Korean words whole and puts the Korean and Traditional Chinese families first', async () => {
    const ko = await pageIn('ko');
    await ko.goto(`${base}/delist`);
    assert.equal(await ko.getAttribute('html', 'lang'), 'ko');
    assert.equal(await ko.$eval('p.lead', (el) => getComputedStyle(el).wordBreak), 'keep-all');
    assert.match(await ko.$eval('body', (el) => getComputedStyle(el).fontFamily), /^"Apple SD Gothic Neo"/);
    const zh = await pageIn('zh-TW');
    await zh.goto(`${base}/delist`);
    assert.equal(await zh.getAttribute('html', 'lang'), 'zh-TW');
    assert.match(await zh.$eval('body', (el) => getComputedStyle(el).fontFamily), /^"PingFang TC"/);
    assert.notEqual(await zh.$eval('p.lead', (el) => getComputedStyle(el).wordBreak), 'keep-all');
    await ko.context().close();
    await zh.context().close();
  });

  it('looks up an address typed with full-width digits and ideographic full stops, and keeps the result across the switcher', async () => {
    const page = await pageIn('ko');
    await page.goto(`${base}/lookup`);
    await page.fill('#ip', '１９８。５１。１００。７');
    await page.click('form[action="/lookup"] button[type=submit]');
    await page.locator('section.result h2').waitFor();
    assert.equal(await page.textContent('section.result h2'), translator('ko')('lookup.listed', { ip: '198.51.100.7' }));
    await page.click('nav.languages a[lang="en"]');
    await page.waitForURL(/lang=en/);
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.equal(await page.textContent('section.result h2'), translator('en')('lookup.listed', { ip: '198.51.100.7' }));
    await page.context().close();
  });

  it('moves focus to the error summary after a refused form', async () => {
    const page = await pageIn('zh-TW');
    await page.goto(`${base}/delist`);
    await page.fill('#email', 'not-an-address');
    await page.fill('#ip', '10.0.0.1');
    await page.click('form[action="/delist"] button[type=submit]');
    await page.locator('#ip[aria-invalid="true"]').waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'error-summary');
    await shot(page, 'delist-errors-focus-zh-TW');
    await page.context().close();
  });

  it('brings the report form back with its fields and the limit named after an over-size upload', async () => {
    const page = await pageIn('ko');
    await page.goto(`${base}/report`);
    await page.fill('#email', 'keep@example.org');
    await page.selectOption('#category', 'phishing');
    await page.fill('#comment', '큰 파일이에요');
    await page.setInputFiles('#sample', { name: 'big.eml', mimeType: 'message/rfc822', buffer: Buffer.from(messageFromTenant({ tenant: 't', messageId: '<big-e2e@shop.example.com>', bodyBytes: 3 * MB })) });
    await page.click('form[action="/report"] button[type=submit]');
    await page.locator('#sample-error').waitFor({ timeout: 15_000 });
    assert.equal(await page.textContent('#sample-error'), translator('ko')('errors.sample.tooLarge', { mb: 1 }));
    assert.equal(await page.inputValue('#email'), 'keep@example.org');
    assert.equal(await page.inputValue('#category'), 'phishing');
    assert.equal(await page.inputValue('#comment'), '큰 파일이에요');
    await page.waitForFunction(() => document.activeElement?.id === 'error-summary');
    await shot(page, 'report-too-large-ko');
    await page.context().close();
  });
});
