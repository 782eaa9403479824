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
 *
 * Two kinds of task share the threads and the queue: parsing a sample (`parse`), and verifying the DKIM
 * signatures of a stored report or of the original message inside it (`verifyDkim`, for the worker role's trust
 * decision). A DKIM task asks its keys back of this side (the caller's resolver: the policy, DNS or a test's);
 * its budget stops while it waits for a key, so it counts the thread's work, not the network.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { DkimCheck, DkimResolver } from '../domain/dkim.js';
import { NotOurMailError, SampleError, type NetworkPolicy, type SampleErrorCode, type SampleLimits, type SampleSummary } from '../domain/samples.js';
import type { Hop } from '../domain/received.js';
import { MAX_KEY_QUESTIONS, type AnswerRequest, type MailAnswer, type DkimRequest, type DkimTarget, type KeyAnswer, type ParseFailure, type ParseReply, type ParseRequest, type WantedKey } from './protocol.js';

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
  /** What the thread gets (the id is added when it starts); `raw` is transferred. */
  request: Omit<ParseRequest, 'id'> | Omit<DkimRequest, 'id'> | Omit<AnswerRequest, 'id'>;
  budgetMs: number;
  /** DKIM tasks: answers the thread's key questions. */
  resolver?: DkimResolver;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  task: Task | null;
  timer: NodeJS.Timeout | null;
  /** Budget left of the task when its timer (re)started, and when that was. */
  budgetLeft: number;
  since: number;
  /** Key questions of the task being answered now (its budget stops meanwhile), and asked in all. */
  waiting: number;
  asked: number;
}

/** What a DKIM task verifies (see protocol.ts): the message, or the original inside a report. */
export interface DkimTask {
  raw: Uint8Array;
  target: DkimTarget;
  wanted: WantedKey[];
  maxBodyBytes?: number;
}

/** Longest wait for one key (the resolver's own timeouts are shorter); then the verifier reads it as a DNS failure. */
const KEY_WAIT_MS = 15_000;

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
    return this.submit<SampleSummary>({ kind: 'parse', raw: copyOf(raw), network, limits }, budgetMs);
  }

  /**
   * Verifies DKIM signatures on a thread (src/domain/dkim.ts checkDkim), asking `resolver` for keys: the check,
   * or null when the task's target is the original message and the report holds none that matches the hash.
   * Over `budgetMs` of the thread's time (or its heap) it is refused with ParseBudgetError, like a parse.
   */
  verifyDkim(task: DkimTask, resolver: DkimResolver, budgetMs: number): Promise<DkimCheck | null> {
    return this.submit<DkimCheck | null>({ kind: 'dkim', raw: copyOf(task.raw), target: task.target, wanted: task.wanted, ...(task.maxBodyBytes !== undefined ? { maxBodyBytes: task.maxBodyBytes } : {}) }, budgetMs, resolver);
  }

  /**
   * Reads a requester's answer by mail (postal-mime, on a thread, within `budgetMs` like a sample): its From, subject
   * and new text, the quoted history cut, at most `maxTextChars` characters.
   */
  readAnswer(raw: Uint8Array, maxTextChars: number, budgetMs: number): Promise<MailAnswer> {
    return this.submit<MailAnswer>({ kind: 'answer', raw: copyOf(raw), maxTextChars }, budgetMs);
  }

  private submit<T>(request: Task['request'], budgetMs: number, resolver?: DkimResolver): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the parser pool is closed'));
    if (this.queue.length >= this.opts.maxQueue) return Promise.reject(new ParsePoolBusyError());
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ id: this.nextId++, request, budgetMs, ...(resolver ? { resolver } : {}), resolve: resolve as (value: unknown) => void, reject });
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
    const slot: Slot = { worker, ready: false, task: null, timer: null, budgetLeft: 0, since: 0, waiting: 0, asked: 0 };
    this.slots.add(slot);
    worker.on('message', (reply: ParseReply) => {
      if ('ready' in reply) {
        slot.ready = true;
        return this.pump();
      }
      const task = slot.task;
      if (!task || task.id !== reply.id) return;
      if ('key' in reply) return this.askKey(slot, task, reply.key);
      this.finish(slot);
      if (!reply.ok) task.reject(errorOf(reply.error));
      else task.resolve('summary' in reply ? reply.summary : 'answer' in reply ? reply.answer : reply.dkim);
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
    slot.budgetLeft = task.budgetMs;
    slot.waiting = 0;
    slot.asked = 0;
    this.runClock(slot, task);
    slot.worker.postMessage({ ...task.request, id: task.id }, [task.request.raw.buffer as ArrayBuffer]);
  }

  /** (Re)starts the task's budget with what is left of it. */
  private runClock(slot: Slot, task: Task): void {
    slot.since = Date.now();
    slot.timer = setTimeout(() => void this.retire(slot, new ParseBudgetError(budgetMessage(task.budgetMs))), Math.max(0, slot.budgetLeft));
  }

  /** A DKIM task asks for a key: its budget stops until the answer is posted back (at most KEY_WAIT_MS). */
  private askKey(slot: Slot, task: Task, key: { lookup: number; name: string; type: string }): void {
    if (slot.waiting++ === 0 && slot.timer) {
      clearTimeout(slot.timer);
      slot.timer = null;
      slot.budgetLeft -= Date.now() - slot.since;
    }
    const answer = (a: Omit<KeyAnswer, 'kind' | 'id' | 'lookup'>) => {
      if (slot.task !== task) return; // ended meanwhile (closed, crashed)
      slot.worker.postMessage({ kind: 'key', id: task.id, lookup: key.lookup, ...a } satisfies KeyAnswer);
      if (--slot.waiting === 0) this.runClock(slot, task);
    };
    if (!task.resolver || ++slot.asked > MAX_KEY_QUESTIONS) return answer({ code: 'ENOTFOUND', message: `no key ${key.name}` });
    const resolver = task.resolver;
    void (async () => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error(`no answer for ${key.name} within ${KEY_WAIT_MS} ms`), { code: 'ETIMEOUT' })), KEY_WAIT_MS);
        });
        const records = await Promise.race([resolver(key.name, key.type), timeout]);
        answer({ records: (Array.isArray(records) ? records : []).map((r) => (Array.isArray(r) ? r.map(String) : [String(r)])) });
      } catch (err) {
        const e = err as { code?: unknown; message?: unknown } | null;
        answer({ code: typeof e?.code === 'string' ? e.code : 'ESERVFAIL', message: String(e?.message ?? err) });
      } finally {
        clearTimeout(timer);
      }
    })();
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

/** A copy of the bytes of its own, transferred to the thread: the caller keeps `raw` (to store it as evidence). */
function copyOf(raw: Uint8Array): Uint8Array {
  const copy = new Uint8Array(raw.byteLength);
  copy.set(raw);
  return copy;
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
