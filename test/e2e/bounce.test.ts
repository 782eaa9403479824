import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { createApp } from '../../src/app.js';
import { addListing } from '../../src/features/blocklist/service.js';
import { CHROMIUM, launch, openPage, serve, shot, unlabelledControls, untiedErrors } from '../helpers/browser.js';
import { testContext, type TestContext } from '../helpers/context.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/ndr/${name}`, import.meta.url), 'utf8');

describe('/bounce in a real browser (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let ctx: TestContext;
  let server: Server;
  let base: string;
  let browser: Browser;
  before(async () => {
    ctx = testContext();
    await addListing(ctx, { target: '198.51.100.23', category: 'spam-source', source: 'test', by: 'test' });
    ({ server, base } = await serve(createApp(ctx)));
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    server?.close();
    await ctx?.cleanup();
  });

  const pageIn = (lang: string): Promise<Page> => openPage(browser, lang);

  for (const lang of ['ko', 'zh-TW']) {
    it(`home → paste a Postfix bounce → the verdict → the delist form with the IP filled in, in ${lang}`, async () => {
      const page = await pageIn(lang);
      await page.goto(`${base}/`);
      await page.click('a[href="/bounce"]');
      assert.equal(new URL(page.url()).pathname, '/bounce');
      assert.deepEqual(await unlabelledControls(page), []);
      await page.fill('#text', fixture('postfix-ours-5.7.606.eml'));
      await Promise.all([page.waitForNavigation(), page.click('form[action="/bounce"] button[type="submit"]')]);
      assert.equal(await page.getAttribute('section.bounce-result', 'data-kind'), 'ourListing');
      assert.match(await page.inputValue('#text'), /banned sending IP \[198\.51\.100\.23\]/, 'the paste is kept');
      await shot(page, `bounce-result-${lang}`);
      await Promise.all([page.waitForNavigation(), page.click('#bounce-next')]);
      assert.equal(new URL(page.url()).pathname, '/delist');
      assert.equal(await page.inputValue('#ip'), '198.51.100.23');
    });
  }

  it('an empty paste: the error is tied to the textarea; a huge paste is cut at the textarea limit and still read', async () => {
    const page = await pageIn('en');
    await page.goto(`${base}/bounce`);
    await Promise.all([page.waitForNavigation(), page.click('form[action="/bounce"] button[type="submit"]')]);
    assert.deepEqual(await untiedErrors(page), []);
    assert.equal(await page.getAttribute('#text', 'aria-invalid'), 'true');
    await page.focus('#text');
    await page.keyboard.insertText(`550 5.7.606 Access denied, banned sending IP [198.51.100.23]\n${'x'.repeat(10 * 1024 * 1024)}`);
    assert.equal((await page.inputValue('#text')).length, 50_000, 'the browser keeps the first 50 000 characters');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/bounce"] button[type="submit"]')]);
    assert.equal(await page.getAttribute('section.bounce-result', 'data-kind'), 'ourListing');
  });
});
