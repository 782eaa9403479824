import { OutboxRelay } from '../jobs/outbox.js';
import type { RequestHandler } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Context } from '../context.js';

/** Prometheus metrics for operators: process defaults, HTTP requests by route and status, queue depths, routing version. */
export function createMetrics(ctx: Context): { observe: RequestHandler; expose: RequestHandler } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'portal_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({ name: 'portal_http_request_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry] });
  new Gauge({
    name: 'portal_queue_jobs',
    help: 'Jobs per queue and state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const q of [ctx.jobs.requests, ctx.jobs.mail, ctx.jobs.maintenance]) {
        const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
        for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n);
      }
    },
  });
  new Gauge({
    name: 'portal_job_outbox_entries',
    help: 'Jobs written to the job outbox and not yet relayed into their queue by a worker',
    registers: [registry],
    async collect() {
      this.set(await OutboxRelay.waiting(ctx.db));
    },
  });
  new Gauge({
    name: 'portal_routing_version',
    help: 'Current version of the routing datasets',
    registers: [registry],
    async collect() {
      this.set(await ctx.routing.version());
    },
  });
  new Gauge({
    name: 'portal_open_tickets',
    help: 'Open tickets by kind',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      for (const [kind, n] of Object.entries(await ctx.tickets.counts('open'))) this.set({ kind }, n);
    },
  });
  return {
    observe: (req, res, next) => {
      const start = performance.now();
      res.on('finish', () => {
        const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other');
        requests.inc({ method: req.method, route, status: String(res.statusCode) });
        duration.observe({ method: req.method, route }, (performance.now() - start) / 1000);
      });
      next();
    },
    expose: async (_req, res) => {
      res.set('Content-Type', registry.contentType).send(await registry.metrics());
    },
  };
}
