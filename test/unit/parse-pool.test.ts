/**
 * The parser pool (src/parse/pool.ts): samples are parsed on worker threads with a time budget, so the event
 * loop of the role that received them keeps answering; a thread over its budget is ended and replaced.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { NotOurMailError, SampleError } from '../../src/domain/samples.js';
import { loadPolicy } from '../../src/policy.js';
import { ParseBudgetError, ParsePool, ParsePoolBusyError } from '../../src/parse/pool.js';
import { boundaryLines, manyReceived, tinyHeaders } from '../helpers/hostile.js';
import { foreignMessage, messageFromTenant } from '../helpers/messages.js';

const { network, samples } = loadPolicy();
const ours = (tenant: string) => Buffer.from(messageFromTenant({ tenant, messageId: `<${tenant}@shop.example.com>` }));

/** A sample that takes far longer than any budget below to parse: one large part after many boundary-like lines. */
const slow = boundaryLines(1_500_000);

describe('the parser pool', () => {
  const pool = new ParsePool({ size: 1, maxQueue: 2, maxHeapMb: 256 });
  after(() => pool.close());

  it('gives the bounded summary of a sample, parsed on a thread', async () => {
    const summary = await pool.parse(ours('pool-a'), network, samples, 5000);
    assert.equal(summary.tenant, 'pool-a');
    assert.equal(summary.sourceIp, '203.0.113.10');
    assert.equal('arf' in summary, false);
    const long = await pool.parse(manyReceived(10_000), network, samples, 5000);
    assert.equal(long.hops.length, 5);
    assert.equal(long.omittedHops, 9995);
  });

  it('rebuilds the refusals on this side: SampleError with its code, NotOurMailError with a few hops', async () => {
    await assert.rejects(pool.parse(tinyHeaders(), network, samples, 5000), (err) => err instanceof SampleError && err.code === 'TOO_COMPLEX' && /20000 fields/.test(err.message));
    await assert.rejects(pool.parse(Buffer.from(foreignMessage), network, samples, 5000), (err) => err instanceof NotOurMailError && err.hops.length === 1 && err.hops[0]?.fromIp === '198.51.100.200');
  });

  it('ends a thread over its budget, refuses the sample, and parses the next one on a new thread', async () => {
    // The same sample parses within a roomy budget: what refuses it below is the budget, ending a thread busy in it.
    assert.equal((await pool.parse(slow, network, samples, 30_000)).sourceIp, '203.0.113.10');
    await assert.rejects(pool.parse(slow, network, samples, 20), (err) => err instanceof ParseBudgetError && err.code === 'SampleTooComplex' && /takes longer to read than we allow \(20 ms\)/.test(err.message));
    assert.equal(pool.threads, 0, 'the thread over its budget was ended');
    assert.equal((await pool.parse(ours('pool-b'), network, samples, 5000)).tenant, 'pool-b');
    assert.equal(pool.threads, 1, 'a new thread took its place');
  });

  it('keeps the event loop free while a long parse runs', async () => {
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const ticks: number[] = [];
    const ticker = setInterval(() => ticks.push(Date.now()), 20);
    try {
      const parses = [pool.parse(slow, network, samples, 30_000), pool.parse(slow, network, samples, 30_000)];
      await Promise.all(parses);
    } finally {
      clearInterval(ticker);
      delay.disable();
    }
    const maxMs = delay.max / 1e6;
    assert.ok(maxMs < 2000, `the event loop stalled for ${Math.round(maxMs)} ms`); // loose: the machine is shared
    assert.ok(ticks.length >= 3, 'timers kept firing during the parse');
  });

  it('refuses more waiting samples than it queues (busy), then works on', async () => {
    const inFlight = [pool.parse(slow, network, samples, 30_000), pool.parse(slow, network, samples, 30_000), pool.parse(slow, network, samples, 30_000)];
    await assert.rejects(pool.parse(ours('pool-c'), network, samples, 5000), ParsePoolBusyError);
    await Promise.all(inFlight);
    assert.equal((await pool.parse(ours('pool-c'), network, samples, 5000)).tenant, 'pool-c');
  });

  it('ends its threads on close and refuses samples afterwards', async () => {
    const own = new ParsePool({ size: 2, maxQueue: 4, maxHeapMb: 256 });
    await own.parse(ours('pool-d'), network, samples, 5000);
    assert.equal(own.threads, 1);
    await own.close();
    assert.equal(own.threads, 0);
    await assert.rejects(own.parse(ours('pool-e'), network, samples, 5000), /closed/);
  });
});
