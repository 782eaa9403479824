/**
 * Issue 13 item 2: the web role keeps answering while hostile samples are parsed. The portal (web app and SMTP
 * intake, in this process, on 127.0.0.1, rate limits lifted so every hostile sample reaches the parser) is
 * measured twice in the same run: quiet (the baseline), then while 4 clients in another process
 * (hostile-clients.ts) keep sending the worst hostile samples through the API, the web form and SMTP. Measured:
 * `/healthz` and a normal `POST /delist`, each sent at a fixed rate (open loop), p99 latency.
 * Targets: hostile.healthz_p99_ms ≤ 50, hostile.delist_p99_ms ≤ 100. About 20 s in all; stops by itself.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createApp } from '../../src/app.js';
import { closeParsePool } from '../../src/parse/pool.js';
import { createAbuseSmtpServer, listenSmtp } from '../../src/smtp/intake.js';
import { testContext } from '../helpers/context.js';

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.max(0, Math.ceil(q * xs.length) - 1))] ?? Number.NaN;
const round = (x: number) => Math.round(x * 10) / 10;

interface Probe {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: (i: number) => string;
}

let sequence = 0;

/** Sends `probe` at `perSecond` for `ms` (open loop: a slow answer does not delay the next request); latencies in ms. */
async function atRate(port: number, probe: Probe, perSecond: number, ms: number): Promise<{ latencies: number[]; failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let failed = 0;
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; performance.now() - start < ms; i++) {
    const wait = start + (i * 1000) / perSecond - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    const body = probe.body(sequence++);
    pending.push(
      new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, method: probe.method, path: probe.path, agent, headers: { ...probe.headers, ...(probe.method === 'POST' && { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
          res.resume();
          res.on('end', () => {
            if ((res.statusCode ?? 500) >= 400) failed++;
            latencies.push(performance.now() - t0);
            resolve();
          });
        });
        req.on('error', () => {
          failed++;
          resolve();
        });
        req.end(probe.method === 'POST' ? body : undefined);
      }),
    );
  }
  await Promise.all(pending);
  agent.destroy();
  return { latencies, failed };
}

/** Both probes at once for `ms`: p99 of each, and the p99 of this event loop's delay meanwhile. */
async function measure(port: number, healthz: Probe, delist: Probe, ms: number): Promise<{ healthz: number; delist: number; loop: number; failed: number }> {
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  const [h, d] = await Promise.all([atRate(port, healthz, 40, ms), atRate(port, delist, 20, ms)]);
  delay.disable();
  return { healthz: quantile(h.latencies, 0.99), delist: quantile(d.latencies, 0.99), loop: delay.percentile(99) / 1e6, failed: h.failed + d.failed };
}

export async function hostileBench(redisUrl: string, opts: { seconds?: number } = {}): Promise<Array<[string, number, string]>> {
  const ms = (opts.seconds ?? 5) * 1000;
  const roomy = { max: 100_000_000, windowMinutes: 1 };
  const ctx = testContext({ env: { REDIS_URL: redisUrl }, policy: (p) => ({ ...p, rateLimits: Object.fromEntries(Object.keys(p.rateLimits).map((k) => [k, roomy])) as typeof p.rateLimits, challenge: { ...p.challenge, resendCooldownSeconds: 0 } }) });
  const app = createApp(ctx);
  app.enable('view cache'); // as in production (NODE_ENV=production): pages are not compiled again for every answer
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  const smtp = createAbuseSmtpServer(ctx);
  await listenSmtp(smtp, 0, '127.0.0.1');
  const smtpPort = (smtp.server.address() as AddressInfo).port;
  const token = await ctx.apiTokens.create('hostile-bench');
  let attackers: ReturnType<typeof spawn> | null = null;
  try {
    const page = await fetch(`http://127.0.0.1:${port}/delist`);
    const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const healthz: Probe = { method: 'GET', path: '/healthz', headers: {}, body: () => '' };
    const delist: Probe = {
      method: 'POST',
      path: '/delist',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: (i) => `_csrf=${encodeURIComponent(csrf)}&email=hostile${i}%40example.org&ip=198.51.${100 + ((i >> 8) % 100)}.${(i % 254) + 1}`,
    };

    await measure(port, healthz, delist, 1500); // warm-up: code hot, connections made
    const quiet = await measure(port, healthz, delist, ms);

    // The attackers start (they make their samples first), then the same measurement runs while they send.
    // At the lowest CPU priority: they stand for clients on other machines, not for load on the portal's cores.
    attackers = spawn('nice', ['-n', '19', process.execPath, '--import', 'tsx', 'test/bench/hostile-clients.ts'], {
      env: { ...process.env, HOSTILE_WEB_PORT: String(port), HOSTILE_SMTP_PORT: String(smtpPort), HOSTILE_API_TOKEN: token, HOSTILE_CLIENTS: '4', HOSTILE_SECONDS: String(Math.ceil(ms / 1000) + 3) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    attackers.stdout!.on('data', (d) => (output += d));
    const exited = new Promise<void>((resolve) => attackers!.once('exit', () => resolve()));
    const deadline = Date.now() + 15_000;
    while (!output.includes('HOSTILE_RUNNING')) {
      if (Date.now() > deadline || attackers.exitCode !== null) throw new Error(`hostile clients did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1000)); // the first samples are in flight
    const hostile = await measure(port, healthz, delist, ms);
    await exited;
    const done = /HOSTILE_DONE (\{.*\})/.exec(output);
    const statuses = done ? (JSON.parse(done[1]!) as Record<string, number>) : {};
    const sent = Object.values(statuses).reduce((a, b) => a + b, 0);
    const stored = Object.entries(statuses).filter(([k]) => /^(api 2|web 3|smtp 250)/.test(k)).reduce((a, [, v]) => a + v, 0);
    if (quiet.failed + hostile.failed > 0) throw new Error(`${quiet.failed + hostile.failed} probe requests failed`);
    if (stored > 0) throw new Error(`hostile samples were accepted: ${JSON.stringify(statuses)}`);
    process.stderr.write(`hostile bench: attackers got ${JSON.stringify(statuses)}\n`);
    return [
      ['hostile.healthz_p99_ms', round(hostile.healthz), 'ms'],
      ['baseline.quiet_healthz_p99_ms', round(quiet.healthz), 'ms'],
      ['hostile.delist_p99_ms', round(hostile.delist), 'ms'],
      ['baseline.quiet_delist_p99_ms', round(quiet.delist), 'ms'],
      ['hostile.event_loop_delay_p99_ms', round(hostile.loop), 'ms'],
      ['baseline.quiet_event_loop_delay_p99_ms', round(quiet.loop), 'ms'],
      ['hostile.samples_refused', sent, 'samples'],
    ];
  } finally {
    if (attackers && attackers.exitCode === null) attackers.kill('SIGTERM');
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
    await closeParsePool();
    await ctx.cleanup();
  }
}
