/**
 * `npm run bench -- live`: how long a person looks at "Queued" after pressing "Delist IP" (issue 16). The whole
 * portal (web app, BullMQ workers, SMTP sink) runs in this process; Debian's chromium, driven by playwright-core,
 * opens the confirmation link of a listed IP and presses the button, then the status page shows the final state.
 *
 * live_*: with JavaScript, the page's script (public/live-status.js) following /status/:id.json.
 *   live_click_to_final_ms: the click → the final state in the DOM (seen from here with waitForSelector).
 *   live_job_to_screen_ms / _max: the job's finish as the worker records it (BullMQ finishedOn, after the commit) →
 *   the final state in the DOM (a MutationObserver in the page, same clock).
 * noscript_click_to_final_ms: the baseline, the page as it was before (a meta refresh every 3 s, now in <noscript>),
 *   measured the same way with JavaScript off.
 * Medians over the runs; the machine is shared, so both modes run in the same process, one after the other.
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { addListing } from '../../src/features/blocklist/service.js';
import { requestDelist } from '../../src/features/delist/service.js';
import { CHROMIUM, launch } from '../helpers/browser.js';
import { challengeToken, requestIdsAt, startPortal } from '../helpers/portal.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function liveStatusBench(opts: { runs: number; baselineRuns: number }): Promise<Array<[string, number, string]>> {
  if (!CHROMIUM) {
    process.stderr.write('live: chromium is not installed, skipped\n');
    return [];
  }
  // One browser makes every request: the per-client limits are set out of the way.
  const portal = await startPortal({ policy: (p) => ({ ...p, rateLimits: Object.fromEntries(Object.entries(p.rateLimits).map(([k, v]) => [k, { ...v, max: 100_000 }])) as typeof p.rateLimits }) });
  const server = portal.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const browser: Browser = await launch();
  let n = 0;

  async function once(javaScriptEnabled: boolean): Promise<{ clickToFinal: number; jobToScreen: number | null }> {
    const ip = `198.51.${100 + Math.floor(n / 250)}.${(n % 250) + 1}`;
    n++;
    await addListing(portal.ctx, { target: ip, category: 'spam-source', source: 'bench', by: 'bench' });
    const now = new Date();
    await requestDelist(portal.ctx, { email: `bench-${n}@example.org`, ip, lang: 'ko' }, now);
    const token = await challengeToken(portal.ctx, (await requestIdsAt(portal.ctx, now))[0]!);
    const context: BrowserContext = await browser.newContext({ locale: 'ko', javaScriptEnabled });
    try {
      await context.addInitScript(() => {
        const w = window as unknown as { __finalAt: number };
        w.__finalAt = 0;
        new MutationObserver(() => {
          if (!w.__finalAt && document.querySelector('.state.state-delisted')) w.__finalAt = Date.now();
        }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
      });
      const page = await context.newPage();
      await page.goto(`${base}/delist/confirm/${token}`);
      const clicked = Date.now();
      await page.click('form[action^="/delist/confirm"] button[type=submit]');
      await page.waitForSelector('.state.state-delisted', { timeout: 20_000 });
      const clickToFinal = Date.now() - clicked;
      let jobToScreen: number | null = null;
      if (javaScriptEnabled) {
        const id = page.url().split('/').pop()!;
        const job = await portal.ctx.jobs.requests.getJob(`delist-${id}`);
        const shownAt = await page.evaluate(() => (window as unknown as { __finalAt: number }).__finalAt);
        if (job?.finishedOn && shownAt) jobToScreen = shownAt - job.finishedOn;
      }
      return { clickToFinal, jobToScreen };
    } finally {
      await context.close();
    }
  }

  try {
    await once(true); // warm-up: templates, connections, the browser
    const live = [];
    for (let i = 0; i < opts.runs; i++) live.push(await once(true));
    const baseline = [];
    for (let i = 0; i < opts.baselineRuns; i++) baseline.push(await once(false));
    const jobToScreen = live.map((r) => r.jobToScreen).filter((x): x is number => x !== null);
    return [
      ['live_click_to_final_ms', median(live.map((r) => r.clickToFinal)), 'ms'],
      ['live_job_to_screen_ms', median(jobToScreen), 'ms'],
      ['live_job_to_screen_max_ms', Math.max(...jobToScreen), 'ms'],
      ['noscript_click_to_final_ms', median(baseline.map((r) => r.clickToFinal)), 'ms'],
    ];
  } finally {
    await browser.close();
    server.close();
    await portal.stop();
  }
}
