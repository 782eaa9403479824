import { existsSync, mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const ARTIFACTS = 'test-artifacts/screenshots';

/** Debian's chromium driven by playwright-core (never a downloaded browser), headless, no network chatter. */
export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM!,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A fresh browser context reading `lang` (locale and Accept-Language), and its page. */
export async function openPage(browser: Browser, lang: string): Promise<Page> {
  const context = await browser.newContext({ locale: lang, extraHTTPHeaders: { 'Accept-Language': lang } });
  return context.newPage();
}

/** A full-page screenshot under test-artifacts/screenshots, to look at. */
export const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

/** The app listening on a free loopback port: the server (to close) and its base URL. */
export async function serve(app: Express): Promise<{ server: Server; base: string }> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A browser test's teardown: the browser, the app's server (open keep-alive connections too) and the test context. */
export async function closeAll(parts: { browser?: Browser; server?: Server; ctx?: { cleanup(): Promise<void> } }): Promise<void> {
  await parts.browser?.close();
  parts.server?.closeAllConnections();
  parts.server?.close();
  await parts.ctx?.cleanup();
}

/** Every visible form control has a label (a <label for>, a wrapping label, or aria-label/labelledby). */
export async function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('input, select, textarea'))
      .filter((el) => (el as HTMLInputElement).type !== 'hidden')
      .filter((el) => !((el as HTMLInputElement).labels?.length || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')))
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

/** Fields marked invalid point at a visible error message through aria-describedby. */
export async function untiedErrors(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('[aria-invalid="true"]'))
      .filter((el) => {
        const ids = (el.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean);
        return !ids.some((id) => document.getElementById(id)?.classList.contains('field-error'));
      })
      .map((el) => el.outerHTML.slice(0, 120)),
  );
}

/** Moves focus with Tab until the element matching `selector` has it (keyboard-only use). */
export async function tabTo(page: Page, selector: string, maxTabs = 40): Promise<void> {
  for (let i = 0; i < maxTabs; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
  }
  throw new Error(`could not reach ${selector} with the keyboard`);
}
