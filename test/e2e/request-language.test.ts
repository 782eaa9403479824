import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { addListing } from '../../src/features/blocklist/service.js';
import { translator } from '../../src/i18n/index.js';
import { CHROMIUM, launch, openPage, serve, shot } from '../helpers/browser.js';
import { englishRuns } from '../helpers/english.js';
import { eventually, startPortal } from '../helpers/portal.js';
import { decodeQuotedPrintable } from '../helpers/smtp.js';
import { signedIn } from '../helpers/staff.js';

type Portal = Awaited<ReturnType<typeof startPortal>>;
const ko = translator('ko');

/**
 * Issue 16, as the issue will be checked: in Debian's chromium, a Korean sender asks for a delisting, opens the mailed
 * link on another device whose browser reads English, and follows the status page while staff refuse the request in
 * between. Every page of the request is Korean, the earlier step stays Korean, no English sentence shows.
 */
describe('a Korean request in a real browser on an English device, staff acting in between (Debian chromium)', { skip: CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)' }, () => {
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

  it('keeps the request in Korean from the mailed link to the refusal', async () => {
    const ip = '198.51.100.171';
    const email = 'browser-ko@example.org';
    await addListing(portal.ctx, { target: ip, category: 'botnet', source: 'test', by: 'test' });
    const korean = await openPage(browser, 'ko-KR');
    await korean.goto(`${base}/delist`);
    await korean.fill('#email', email);
    await korean.fill('#ip', ip);
    await korean.click('form[action="/delist"] button[type=submit]');
    await korean.waitForURL(/\/delist\/sent$/);

    const mail = await portal.smtp.waitFor((m) => m.to.includes(email));
    const link = /\/delist\/confirm\/[A-Za-z0-9_-]{43}\?lang=ko/.exec(decodeQuotedPrintable(mail.raw))?.[0];
    assert.ok(link, 'the mailed link carries the request\'s language');

    const english = await openPage(browser, 'en-US');
    await english.goto(`${base}${link}`);
    assert.equal(await english.getAttribute('html', 'lang'), 'ko');
    assert.ok((await english.textContent('main'))!.includes(ko('categoryName.botnet')), 'the category in words');
    await english.click('form[action^="/delist/confirm"] button[type=submit]');
    await english.waitForURL(/\/status\/[A-Za-z0-9_-]{16}/);
    const requestId = new URL(english.url()).pathname.split('/').pop()!;
    const review = ko('reason.staff-only-category', { category: ko('categoryName.botnet') });
    await english.waitForFunction((text) => document.querySelector('main')?.textContent?.includes(text), review, { timeout: 10_000 });

    const staff = await signedIn(portal.ctx, portal.app, 'browser-desk@portal.example.net', 'triager');
    const ticketId = await eventually(async () => (await portal.ctx.requests.get(requestId))?.ticketId);
    await staff.agent.post(`/staff/tickets/${ticketId}/action`).type('form').send({ _csrf: staff.csrf, action: 'refuse-delist', canned: 'still-sending', reason: '' }).expect(303);

    await english.reload();
    assert.equal(await english.getAttribute('html', 'lang'), 'ko');
    const main = (await english.textContent('main'))!;
    assert.ok(main.includes(ko('reason.staff-refused', { note: ko('staffText.template.still-sending') })), main);
    assert.ok(main.includes(review), 'the earlier step stays Korean');
    assert.deepEqual(englishRuns(await english.content()), []);
    await shot(english, 'request-language-ko-refused');
  });
});
