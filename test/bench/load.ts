import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRedis, deleteByPattern } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import { DEFAULT_POLICY_FILE } from '../../src/policy.js';
import { freePort, startRole } from '../helpers/processes.js';
import { testDb } from '../helpers/db.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)]!;

interface Target {
  port: number;
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body: (i: number) => string;
  /** How many requests this target accepted (2xx/3xx) in the whole run. */
  accepted?: number;
  /** The server's process, and its CPU µs per accepted request in each measured round. */
  pid?: number;
  cpuPerRequest?: number[];
}

function send(agent: http.Agent, t: Target, i: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = t.body(i);
    const req = http.request({ host: '127.0.0.1', port: t.port, method: t.method, path: t.path, agent, headers: { ...t.headers, 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * CPU seconds a process has used so far (user + system, from /proc; Linux only, else NaN). CPU per request is
 * steadier than throughput on a shared machine: it does not move when another process takes the other core.
 */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return Number.NaN;
  }
}

/** Numbers every request of the run, so no two delist submissions share an email and IP (that would hit the cool-down, a cheaper path). */
let sequence = 0;

/** Closed loop: `concurrency` clients send back to back for `ms`; returns requests per second (2xx/3xx only). */
async function throughput(t: Target, ms: number, concurrency = 32): Promise<number> {
  const cpu0 = cpuSeconds(t.pid);
  const ok0 = t.accepted ?? 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  let ok = 0;
  let bad = 0;
  const end = Date.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const status = await send(agent, t, sequence++);
        if (status < 400) {
          ok++;
          t.accepted = (t.accepted ?? 0) + 1;
        } else bad++;
      }
    }),
  );
  agent.destroy();
  if (bad > ok / 100) throw new Error(`${bad} failed requests against ${ok}`);
  (t.cpuPerRequest ??= []).push(((cpuSeconds(t.pid) - cpu0) / ((t.accepted ?? 0) - ok0)) * 1e6);
  return (ok / ms) * 1000;
}

/** Open loop at a fixed rate: latencies of every request. */
async function atRate(t: Target, perSecond: number, ms: number): Promise<number[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  for (let i = 0; performance.now() - start < ms; i++) {
    const due = start + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(send(agent, t, sequence++).then(() => void latencies.push(performance.now() - t0)));
  }
  await Promise.all(pending);
  agent.destroy();
  return latencies;
}

/** `POST /delist` through the real web role (own process, real Redis, rate limits lifted) against a bare express hello-world. */
export async function loadBench(redisUrl: string, opts: { rounds: number; seconds: number; warmupSeconds: number; rate: number; latencySeconds: number; latencyRuns: number }): Promise<Array<[string, number, string]>> {
  const prefix = `pm-bench-load-${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'pm-load-'));
  const policy = JSON.parse(readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
  for (const k of Object.keys(policy.rateLimits)) policy.rateLimits[k] = { max: 100_000_000, windowMinutes: 1 };
  writeFileSync(path.join(dir, 'policy.json'), JSON.stringify(policy));

  const helloPort = await freePort();
  const hello = startRole('test/bench/hello-server.ts', { PORT: String(helloPort) });
  const webPort = await freePort();
  // The records go to a schema of the bench's own, created and migrated here (the web role refuses an unmigrated one).
  const records = await testDb();
  const web = startRole('src/server.ts', { PORT: String(webPort), HOST: '127.0.0.1', REDIS_URL: redisUrl, REDIS_PREFIX: prefix, POLICY_FILE: path.join(dir, 'policy.json'), LOG_LEVEL: 'warn', DATABASE_URL: records.url, DATABASE_SCHEMA: records.schema });
  try {
    await hello.waitFor(/hello listening/);
    await web.waitFor(/web listening|"level":40/, 20_000).catch(async () => {
      // the web role logs at info; with LOG_LEVEL=warn it says nothing: wait for the port instead
    });
    for (let i = 0; i < 100; i++) {
      try {
        const page = await fetch(`http://127.0.0.1:${webPort}/delist`);
        if (page.ok) break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const page = await fetch(`http://127.0.0.1:${webPort}/delist`);
    const cookie = page.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const delist: Target = {
      port: webPort,
      pid: web.child.pid,
      method: 'POST',
      path: '/delist',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: (i) => `_csrf=${encodeURIComponent(csrf)}&email=load${i}%40example.org&ip=198.51.${100 + ((i >> 8) % 100)}.${(i % 254) + 1}`,
    };
    const helloTarget: Target = { port: helloPort, pid: hello.child.pid, method: 'POST', path: '/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: () => 'x=1' };

    const ms = opts.seconds * 1000;
    // The fixed-rate latency first, in a steady state at that rate: the p99 at 200/s is what a form user meets on a
    // normal day, not the tail of saturating rounds (which leave tens of thousands of rows for autovacuum and the
    // checkpointer to catch up on while the next phase runs). The warm-up runs at the same rate (V8 optimises the
    // portal's path within a few thousand requests). `latencyRuns` runs (five) of `latencySeconds`, each beside
    // hello-world at the same rate; the reported p99 is the median of the runs' (single 5 s runs spread 5–28 ms on the
    // shared machine, so three were too few for a steady median).
    await atRate(helloTarget, opts.rate, opts.warmupSeconds * 1000);
    await atRate(delist, opts.rate, opts.warmupSeconds * 1000);
    const delistP99: number[] = [];
    const delistP50: number[] = [];
    const helloP99: number[] = [];
    for (let r = 0; r < opts.latencyRuns; r++) {
      const latencies = await atRate(delist, opts.rate, opts.latencySeconds * 1000);
      delistP99.push(quantile(latencies, 0.99));
      delistP50.push(quantile(latencies, 0.5));
      helloP99.push(quantile(await atRate(helloTarget, opts.rate, opts.latencySeconds * 1000), 0.99));
    }
    // Then the throughput (information, not a target): both servers saturated for the warm-up time first.
    await throughput(helloTarget, opts.warmupSeconds * 1000);
    await throughput(delist, opts.warmupSeconds * 1000);
    // Each round measures both, back to back, in alternating order (hello first, then the portal first), and
    // the ratio is taken within the round: the machine's speed drifts over seconds, and a ratio of two figures
    // measured seconds apart carries that drift. The reported ratio is the median of the rounds' ratios.
    const portal: number[] = [];
    const baseline: number[] = [];
    const ratios: number[] = [];
    delist.cpuPerRequest = [];
    helloTarget.cpuPerRequest = [];
    for (let r = 0; r < opts.rounds; r++) {
      if (r % 2 === 0) {
        baseline.push(await throughput(helloTarget, ms));
        portal.push(await throughput(delist, ms));
      } else {
        portal.push(await throughput(delist, ms));
        baseline.push(await throughput(helloTarget, ms));
      }
      ratios.push(portal[r]! / baseline[r]!);
    }
    // Every accepted submission made a request (none took the cool-down's shortcut).
    const stored = Number((await records.db.selectFrom('requests').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    if (stored < (delist.accepted ?? 0)) throw new Error(`only ${stored} requests stored for ${delist.accepted} accepted submissions`);
    const p = median(portal);
    const b = median(baseline);
    return [
      ['web.delist_submit_per_s', Math.round(p), 'req/s'],
      ['baseline.express_hello_per_s', Math.round(b), 'req/s'],
      ['web.delist_submit_vs_hello', Math.round(median(ratios) * 100) / 100, 'ratio'],
      ['web.delist_submit_vs_hello_lowest_round', Math.round(Math.min(...ratios) * 100) / 100, 'ratio'],
      ['web.delist_submit_vs_hello_highest_round', Math.round(Math.max(...ratios) * 100) / 100, 'ratio'],
      ['web.delist_submit_cpu_us_per_req', Math.round(median(delist.cpuPerRequest)), 'us'],
      ['baseline.express_hello_cpu_us_per_req', Math.round(median(helloTarget.cpuPerRequest)), 'us'],
      ['web.delist_submit_cpu_vs_hello', Math.round(median(delist.cpuPerRequest.map((c, r) => c / helloTarget.cpuPerRequest![r]!)) * 100) / 100, 'ratio'],
      [`web.delist_submit_p99_ms_at_${opts.rate}_per_s`, Math.round(median(delistP99) * 100) / 100, 'ms'],
      [`web.delist_submit_p99_ms_at_${opts.rate}_per_s_worst_run`, Math.round(Math.max(...delistP99) * 100) / 100, 'ms'],
      [`web.delist_submit_p50_ms_at_${opts.rate}_per_s`, Math.round(median(delistP50) * 100) / 100, 'ms'],
      [`baseline.express_hello_p99_ms_at_${opts.rate}_per_s`, Math.round(median(helloP99) * 100) / 100, 'ms'],
    ];
  } finally {
    await Promise.all([hello.kill(), web.kill()]);
    await records.cleanup();
    const redis = createRedis(redisUrl, 'cli');
    await deleteByPattern(redis, createKeys(prefix).all);
    await redis.quit();
  }
}
