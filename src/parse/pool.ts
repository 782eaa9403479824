/**
 * The parser pool: samples are parsed on worker threads, never on the event loop of the role that received them
 * (web, SMTP intake), each with a time budget. One pool per process, made on first use (`parsePool()`), closed on
 * shutdown (`closeParsePool()`).
 *
 * The budget is wall-clock time counted from when a thread starts on the sample (time waiting in the queue does
 * not count): Node 20 has no per-thread CPU clock. Over it the thread is ended (`worker.terminate()`, which stops
 * even a thread stuck in a loop) and replaced on the next sample; the sample is refused with ParseBudgetError.
 * A thread that runs out of its heap (`resourceLimits`) is ended the same way. Idle threads do not keep the
 * process alive: a thread holds a reference only while it has (or is starting for) work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { NotOurMailError, SampleError, type NetworkPolicy, type SampleErrorCode, type SampleLimits, type SampleSummary } from '../domain/samples.js';
import type { Hop } from '../domain/received.js';
import type { ParseFailure, ParseReply, ParseRequest } from './protocol.js';

/** The sample took longer than its budget to parse (or more memory than a parser thread has). */
export class ParseBudgetError extends Error {
  readonly code = 'SampleTooComplex';
  constructor(message: string) {
    super(message);
    this.name = 'ParseBudgetError';
  }
}

/** More samples wait than the pool queues: try again later. */
export class ParsePoolBusyError extends Error {
  constructor() {
    super('Too many samples are waiting to be read.');
    this.name = 'ParsePoolBusyError';
  }
}

export interface ParsePoolOptions {
  /** Parser threads (at most this many at once). */
  size: number;
  /** Samples allowed to wait for a thread; more are refused with ParsePoolBusyError. */
  maxQueue: number;
  /** Old-generation heap of a thread, in MB. */
  maxHeapMb: number;
}

interface Task {
  id: number;
  raw: Uint8Array;
  network: NetworkPolicy;
  limits: SampleLimits;
  budgetMs: number;
  resolve: (summary: SampleSummary) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task: Task | null;
  timer: NodeJS.Timeout | null;
}

const ENTRY = new URL('./worker-entry.mjs', import.meta.url);

/** The error a refused sample is, rebuilt on this side of the thread boundary. */
function errorOf(failure: ParseFailure): Error {
  if (failure.kind === 'sample') return new SampleError(failure.code as SampleErrorCode, failure.message);
  if (failure.kind === 'not-ours') return new NotOurMailError(failure.message, failure.hops.map((h) => ({ ...h, raw: '', ourHop: false }) satisfies Hop));
  return new Error(failure.message);
}

const budgetMessage = (ms: number) =>
  `This message takes longer to read than we allow (${ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`}): it is built in a way we do not accept. Please send the message as your mail program saved it, or only its full headers.`;

const MEMORY_MESSAGE = 'This message needs more memory to read than we allow: it is built in a way we do not accept. Please send the message as your mail program saved it, or only its full headers.';

export class ParsePool {
  private readonly slots = new Set<Slot>();
  private readonly queue: Task[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly opts: ParsePoolOptions) {}

  /** Parses a sample on a thread: its bounded summary, or the refusal (SampleError, NotOurMailError, ParseBudgetError). */
  parse(raw: Uint8Array, network: NetworkPolicy, limits: SampleLimits, budgetMs: number): Promise<SampleSummary> {
    if (this.closed) return Promise.reject(new Error('the parser pool is closed'));
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(new ParsePoolBusyError());
    // A copy of the bytes of its own, transferred to the thread: the caller keeps `raw` (to store it as evidence).
    const copy = new Uint8Array(raw.byteLength);
    copy.set(raw);
    return new Promise<SampleSummary>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, raw: copy, network, limits, budgetMs, resolve, reject });
      this.pump();
    });
  }

  /** Ends every thread; samples still waiting are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new Error('the parser pool is closed'));
    await Promise.all([...this.slots].map((slot) => this.retire(slot, new Error('the parser pool is closed'))));
  }

  /** Threads now running (for tests). */
  get threads(): number {
    return this.slots.size;
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) break;
      if (slot.ready && !slot.task) this.start(slot, this.queue.shift()!);
    }
    let starting = 0;
    for (const slot of this.slots) if (!slot.ready) starting++;
    while (!this.closed && this.queue.length > starting && this.slots.size < this.opts.size) {
      this.spawn();
      starting++;
    }
    for (const slot of this.slots) this.reference(slot);
  }

  /** A thread keeps the process alive only while it works or starts for waiting work. */
  private reference(slot: Slot): void {
    if (slot.task || (!slot.ready && this.queue.length > 0)) slot.worker.ref();
    else slot.worker.unref();
  }

  private spawn(): void {
    const worker = new Worker(ENTRY, { resourceLimits: { maxOldGenerationSizeMb: this.opts.maxHeapMb }, stdout: false, stderr: false });
    const slot: Slot = { worker, ready: false, task: null, timer: null };
    this.slots.add(slot);
    worker.on('message', (reply: ParseReply) => {
      if ('ready' in reply) {
        slot.ready = true;
        return this.pump();
      }
      const task = slot.task;
      if (!task || task.id !== reply.id) return;
      this.finish(slot);
      if (reply.ok) task.resolve(reply.summary);
      else task.reject(errorOf(reply.error));
      this.pump();
    });
    worker.on('error', (err: Error & { code?: string }) => {
      const failure = err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? new ParseBudgetError(MEMORY_MESSAGE) : err;
      if (!slot.ready && !slot.task) {
        // The thread could not even start: the waiting samples would wait for ever.
        for (const task of this.queue.splice(0)) task.reject(err);
      }
      void this.retire(slot, failure);
    });
    worker.on('exit', () => void this.retire(slot, new Error('a parser thread stopped')));
  }

  private start(slot: Slot, task: Task): void {
    slot.task = task;
    slot.timer = setTimeout(() => void this.retire(slot, new ParseBudgetError(budgetMessage(task.budgetMs))), task.budgetMs);
    const request: ParseRequest = { id: task.id, raw: task.raw, network: task.network, limits: task.limits };
    slot.worker.postMessage(request, [task.raw.buffer as ArrayBuffer]);
  }

  private finish(slot: Slot): Task | null {
    const task = slot.task;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    slot.task = null;
    return task;
  }

  /** Ends a thread (over budget, crashed, exited or closing): its sample gets `reason`; another starts when needed. */
  private async retire(slot: Slot, reason: Error): Promise<void> {
    if (!this.slots.delete(slot)) return;
    this.finish(slot)?.reject(reason);
    const ended = slot.worker.terminate();
    if (!this.closed) this.pump();
    await ended;
  }
}

let shared: ParsePool | null = null;

/** Threads for this process: one core is left to the event loop (and Redis); at least 1, at most 4. */
export const defaultPoolOptions = (): ParsePoolOptions => ({ size: Math.max(1, Math.min(4, availableParallelism() - 1)), maxQueue: 32, maxHeapMb: 256 });

/** This process's pool, made on first use. */
export function parsePool(): ParsePool {
  return (shared ??= new ParsePool(defaultPoolOptions()));
}

/** Closes this process's pool, if one was made (the shutdown of every role that parses). */
export async function closeParsePool(): Promise<void> {
  const pool = shared;
  shared = null;
  await pool?.close();
}
