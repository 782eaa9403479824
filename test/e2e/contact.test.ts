import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { createApp } from '../../src/app.js';
import { renderMail } from '../../src/mail/render.js';
import { translator } from '../../src/i18n/index.js';
import { CHROMIUM, launch, openPage, serve, shot, closeAll } from '../helpers/browser.js';
import { testContext, type TestContext } from '../helpers/context.js';

/** Issue 16, "a conversation, not a dead end", walked in a real browser in Korean; the branded mail as a browser draws it. */
describe('the contact form and the branded mail in a real browser (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
  let ctx: TestContext;
  let server: Server;
  let base: string;
  let browser: Browser;
  before(async () => {
    ctx = testContext({ env: { OPERATOR_NAME: 'Contoso Mail Hosting' } });
    ({ server, base } = await serve(createApp(ctx)));
    browser = await launch();
  });
  after(() => closeAll({ browser, server, ctx }));

  it('reaches a person from the home page footer: an error first (focus on the summary, text kept), then the sent page and the status page', async () => {
    const t = translator('ko');
    const page = await openPage(browser, 'ko');
    await page.goto(`${base}/`);
    await page.click(`footer a[href="/contact"]`);
    await page.waitForURL(/\/contact$/);
    assert.equal(await page.textContent('h1'), t('contact.form.heading'));
    await page.fill('#email', 'minjun@example');
    await page.fill('#message', '반송 메일이 계속 와요. 도와주세요.');
    await page.click('form[action="/contact"] button[type=submit]');
    await page.locator('#email[aria-invalid="true"]').waitFor();
    await page.waitForFunction(() => document.activeElement?.id === 'error-summary', undefined, { timeout: 3000 });
    assert.equal(await page.inputValue('#message'), '반송 메일이 계속 와요. 도와주세요.');
    await page.fill('#email', 'minjun@example.org');
    await page.click('form[action="/contact"] button[type=submit]');
    await page.waitForURL(/\/contact\/sent\//);
    assert.equal(await page.textContent('h1'), t('contact.sent.title'));
    await shot(page, 'contact-sent-ko');
    await page.click('main a[href^="/status/"]');
    await page.waitForURL(/\/status\//);
    assert.equal(await page.textContent('h1'), t('status.heading.contact'));
    assert.ok(await page.isVisible('a[href^="/contact?request="]'));
    const id = page.url().split('/').pop()!;
    assert.equal((await ctx.tickets.get(`c-${id}`))?.kind, 'contact');
    await page.context().close();
  });

  it('draws the mail layout at a readable width with the operator\'s name on top', async () => {
    const mail = await renderMail('request-closed', 'a@example.org', { ip: '', publicUrl: base, operator: ctx.config.operator, state: 'closed', stateLabel: 'Closed', reason: '전화로 답변해 드렸어요.', hasReason: true, reasonCode: '', reasonParams: {}, statusUrl: `${base}/status/x`, contactUrl: `${base}/contact`, kind: 'contact' }, 'ko');
    const page = await openPage(browser, 'ko');
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.setContent(mail.html);
    const width = await page.$eval('td.content', (el) => el.getBoundingClientRect().width);
    assert.ok(width <= 600 && width > 400, `content width ${width}`);
    const top = await page.$eval('table table td', (el) => el.textContent?.trim());
    assert.equal(top, 'Contoso Mail Hosting');
    await shot(page, 'mail-request-closed-ko');
    await page.context().close();
  });
});
