import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app.js';
import { TICKET_KINDS } from '../../src/stores/tickets.js';
import { testContext } from '../helpers/context.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function time(url: string, cookie: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { cookie }, redirect: 'manual' });
    await res.text();
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    times.push(performance.now() - t0);
  }
  return median(times);
}

/** The triage queue page over HTTP with 100k tickets in Redis, against a static public page in the same run. */
export async function staffQueueBench(opts: { tickets: number; requests: number }): Promise<Array<[string, number, string]>> {
  const ctx = testContext();
  try {
    const now = Date.now();
    for (let start = 0; start < opts.tickets; start += 2000) {
      const tx = ctx.redis.pipeline();
      for (let i = start; i < Math.min(opts.tickets, start + 2000); i++) {
        const kind = TICKET_KINDS[i % 3]!;
        ctx.tickets.openIn(
          tx as never,
          { id: `bench-${i}`, kind, subject: `Bench ticket ${i}`, reason: 'bench', ip: `198.51.${(i >> 8) & 255}.${i & 255}`, tenant: `tenant-${i % 500}`, email: `user${i % 2000}@example.org`, category: i % 7 === 0 ? 'botnet' : 'spam-source', ...(i % 50 === 0 && { severity: 'critical' as const }) },
          new Date(now - (opts.tickets - i) * 1000),
        );
      }
      await tx.exec();
    }
    await ctx.staff.add('bench@example.net', 'viewer', 'bench password long enough');
    const server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const loginPage = await fetch(`${base}/staff/login`);
    const jar = loginPage.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await loginPage.text())![1]!;
    const login = await fetch(`${base}/staff/login`, { method: 'POST', redirect: 'manual', headers: { cookie: jar, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _csrf: csrf, email: 'bench@example.net', password: 'bench password long enough' }) });
    const cookie = `${jar}; ${login.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ')}`;

    const baseline = await time(`${base}/delist`, cookie, opts.requests);
    const queue = await time(`${base}/staff`, cookie, opts.requests);
    const bySeverity = await time(`${base}/staff?sort=severity&kind=abuse-case`, cookie, opts.requests);
    const filtered = await time(`${base}/staff?tenant=tenant-42`, cookie, opts.requests);
    const firstPage = await (await fetch(`${base}/staff`, { headers: { cookie } })).text();
    const next = /href="([^"]+)" rel="next"/.exec(firstPage)?.[1]?.replace(/&amp;/g, '&');
    const deep = next ? await time(`${base}${next}`, cookie, opts.requests) : NaN;
    server.close();
    return [
      ['staff.queue_page_ms', Math.round(queue * 100) / 100, 'ms'],
      ['staff.queue_severity_tab_ms', Math.round(bySeverity * 100) / 100, 'ms'],
      ['staff.queue_filtered_ms', Math.round(filtered * 100) / 100, 'ms'],
      ['staff.queue_next_page_ms', Math.round(deep * 100) / 100, 'ms'],
      ['baseline.public_form_page_ms', Math.round(baseline * 100) / 100, 'ms'],
      ['staff.queue_page_vs_form_page', Math.round((queue / baseline) * 100) / 100, 'ratio'],
      ['staff.queue_tickets', opts.tickets, 'tickets'],
    ];
  } finally {
    await ctx.cleanup();
  }
}
