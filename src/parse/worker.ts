/**
 * A parser thread of the pool (src/parse/pool.ts): parses samples with the pure parseSample and sends back the
 * bounded summary, or the refusal. Started through worker-entry.mjs, which loads TypeScript first.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { NotOurMailError, parseSample, SampleError, summarizeSample } from '../domain/samples.js';
import { MAX_REFUSED_HOPS, type ParseFailure, type ParseReply, type ParseRequest } from './protocol.js';

const port = parentPort;
if (!port) throw new Error('src/parse/worker.ts runs as a worker thread of the parser pool');

function failureOf(err: unknown): ParseFailure {
  if (err instanceof SampleError) return { kind: 'sample', code: err.code, message: err.message };
  if (err instanceof NotOurMailError) {
    const hops = err.hops.slice(0, MAX_REFUSED_HOPS).map((h) => ({ index: h.index, fromIp: h.fromIp, fromHost: h.fromHost?.slice(0, 255) ?? null, byHost: h.byHost?.slice(0, 255) ?? null }));
    return { kind: 'not-ours', message: err.message, hops };
  }
  return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
}

port.on('message', (request: ParseRequest) => {
  const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
  parseSample(raw, request.network, request.limits).then(
    (parsed) => port.postMessage({ id: request.id, ok: true, summary: summarizeSample(parsed) } satisfies ParseReply),
    (err: unknown) => port.postMessage({ id: request.id, ok: false, error: failureOf(err) } satisfies ParseReply),
  );
});
/**
 * Parsing is background work: on Linux this thread lowers its own CPU priority (nice +10; the nice value is per
 * thread there, /proc/thread-self names it), so on a busy machine the event loop that answers requests runs first.
 * Best effort: elsewhere, or when refused, the thread keeps the priority it has.
 */
function lowerPriority(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, 10);
  } catch {
    // not Linux, or not allowed: nothing to do
  }
}

lowerPriority();
port.postMessage({ ready: true } satisfies ParseReply);
