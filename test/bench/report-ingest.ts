import { Worker } from 'bullmq';
import { submitMachineReport } from '../../src/features/report/service.js';
import { createRedis } from '../../src/redis/connection.js';
import { processIngestReport } from '../../worker/processors/ingest-report.js';
import { testContext } from '../helpers/context.js';
import { OutboxRelay } from '../../src/jobs/outbox.js';
import { messageFromTenant } from '../helpers/messages.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Starts a worker on a queue already holding `n` jobs and times until all are done. */
async function drain(url: string, queue: string, prefix: string, n: number, processor: (data: { requestId: string }) => Promise<unknown>, concurrency: number): Promise<number> {
  const connection = createRedis(url, 'worker');
  let done = 0;
  const t0 = performance.now();
  const worker = new Worker<{ requestId: string }>(queue, (job) => processor(job.data), { connection, prefix, concurrency });
  try {
    return await new Promise<number>((resolve, reject) => {
      worker.on('completed', () => {
        if (++done === n) resolve(performance.now() - t0);
      });
      worker.on('failed', (_job, err) => reject(err));
    });
  } finally {
    await worker.close();
    connection.disconnect();
  }
}

/** As the worker role runs the requests queue (worker/workers.ts) and opens PostgreSQL (src/db/connection.ts). */
const WORKER_CONCURRENCY = 8;
const WORKER_DB_POOL = 10;

/** One worker ingesting queued 5 KB reports (dedupe, window count, case, escalation), against a no-op worker on the same Redis. */
export async function ingestBench(url: string, opts: { rounds: number; reports: number }): Promise<Array<[string, number, string]>> {
  const rates: number[] = [];
  const baselines: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    const ctx = testContext({ dbPool: WORKER_DB_POOL });
    for (let i = 0; i < opts.reports; i++) {
      const raw = messageFromTenant({ tenant: `tenant-${i % 100}`, messageId: `<bench-${r}-${i}@shop.example.com>`, bodyBytes: 4200 });
      await submitMachineReport(ctx, Buffer.from(raw), { channel: 'api', clientIp: '127.0.0.1', apiTokenName: 'bench' });
    }
    await new OutboxRelay(ctx).drain(); // the ingest jobs were written to the job outbox with their reports
    const ms = await drain(url, ctx.jobs.requests.name, ctx.keys.bullPrefix, opts.reports, (data) => processIngestReport(ctx, data), WORKER_CONCURRENCY);
    rates.push((opts.reports / ms) * 1000);

    const noopQueue = `${ctx.jobs.requests.name}-noop`;
    const { Queue } = await import('bullmq');
    const q = new Queue(noopQueue, { connection: ctx.redis, prefix: ctx.keys.bullPrefix });
    await q.addBulk(Array.from({ length: opts.reports }, (_, i) => ({ name: 'noop', data: { requestId: String(i) } })));
    const noopMs = await drain(url, noopQueue, ctx.keys.bullPrefix, opts.reports, async () => null, WORKER_CONCURRENCY);
    baselines.push((opts.reports / noopMs) * 1000);
    await q.close();
    await ctx.cleanup();
  }
  const rate = median(rates);
  const base = median(baselines);
  return [
    ['report.ingest_per_s', Math.round(rate), 'reports/s'],
    ['baseline.bullmq_noop_per_s', Math.round(base), 'jobs/s'],
    ['report.ingest_vs_noop', Math.round((rate / base) * 100) / 100, 'ratio'],
  ];
}
