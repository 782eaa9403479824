/**
 * A parser thread of the pool (src/parse/pool.ts): parses samples with the pure parseSample and sends back the
 * bounded summary, or the refusal; and verifies DKIM signatures (of a report, or of the original message inside
 * it, found by the same bounded scan), asking the pool for each key. Started through worker-entry.mjs, which
 * loads TypeScript first.
 */
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { checkDkim, type DkimCheck, type DkimResolver } from '../domain/dkim.js';
import { locateOriginal, NotOurMailError, parseSample, SampleError, sampleHashOf, summarizeSample } from '../domain/samples.js';
import PostalMime from 'postal-mime';
import { trimQuotedHistory } from '../domain/reply-address.js';
import { MAX_REFUSED_HOPS, type AnswerRequest, type DkimRequest, type MailAnswer, type ParseFailure, type ParseReply, type PoolMessage } from './protocol.js';

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

/** Key questions of the DKIM task at hand waiting for the pool's answer, by `lookup` number. */
const pendingKeys = new Map<number, { resolve: (records: string[][]) => void; reject: (err: Error) => void }>();
let lookups = 0;

/** Asks the pool for a key (the pool's resolver answers: policy, DNS, a test's). */
const askPool =
  (id: number): DkimResolver =>
  (name, type) =>
    new Promise((resolve, reject) => {
      const lookup = ++lookups;
      pendingKeys.set(lookup, { resolve, reject });
      port.postMessage({ id, key: { lookup, name, type } } satisfies ParseReply);
    });

async function verify(request: DkimRequest): Promise<DkimCheck | null> {
  const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
  const target = request.target;
  let message: Buffer | null = raw;
  if (target.kind === 'original') {
    message = locateOriginal(raw, target.network, target.limits);
    if (!message || sampleHashOf(message) !== target.sampleHash) return null;
  }
  const wanted = (domain: string, selector: string) => request.wanted.some((w) => w.domain === domain && (w.selector === null || w.selector === selector));
  try {
    return await checkDkim(message, askPool(request.id), wanted, request.maxBodyBytes !== undefined ? { maxBodyBytes: request.maxBodyBytes } : {});
  } catch (err) {
    // A message the verifier cannot read is not verified; it must not send the job into retries.
    return { checked: false, reason: `the verifier failed (${String(err instanceof Error ? err.message : err).slice(0, 200)})` };
  }
}

/** An answer by mail: postal-mime reads it (nesting and header size bounded); its text part, or its HTML as text. */
async function readAnswer(request: AnswerRequest): Promise<MailAnswer> {
  const raw = Buffer.from(request.raw.buffer, request.raw.byteOffset, request.raw.byteLength);
  const email = await PostalMime.parse(raw, { maxNestingDepth: 8, maxHeadersSize: 256 * 1024, attachmentEncoding: 'base64' });
  // At most 1 MB of text is looked at (the ticket keeps a few thousand characters), so the HTML clean-up stays linear enough.
  const body = email.text?.slice(0, 1_000_000) ?? (email.html ?? '').slice(0, 1_000_000).replace(/<(script|style)[\s\S]*?<\/\1>/gi, '').replace(/<br\s*\/?>|<\/p>|<\/div>/gi, '\n').replace(/<[^>]*>/g, '').replace(/&nbsp;/g, ' ').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const text = trimQuotedHistory(body.replace(/\u0000/g, ''));
  const oneLine = (v: string | undefined, max: number) => (v ?? '').replace(/[\x00-\x1f\x7f]+/g, ' ').trim().slice(0, max);
  const header = (name: string) => email.headers.find((h) => h.key === name)?.value.trim().toLowerCase() ?? '';
  const automatic = (!!header('auto-submitted') && header('auto-submitted') !== 'no') || /^(auto_reply|bulk|junk|list)$/.test(header('precedence')) || !!header('x-autoreply') || !!header('x-autorespond');
  return { from: oneLine(email.from?.address, 254), subject: oneLine(email.subject, 300), text: text.slice(0, request.maxTextChars), truncated: text.length > request.maxTextChars, automatic };
}

port.on('message', (request: PoolMessage) => {
  if (request.kind === 'key') {
    const pending = pendingKeys.get(request.lookup);
    pendingKeys.delete(request.lookup);
    if (request.records) pending?.resolve(request.records);
    else pending?.reject(Object.assign(new Error(request.message ?? 'no key'), { code: request.code ?? 'ENOTFOUND' }));
    return;
  }
  if (request.kind === 'answer') {
    readAnswer(request).then(
      (answer) => port.postMessage({ id: request.id, ok: true, answer } satisfies ParseReply),
      (err: unknown) => port.postMessage({ id: request.id, ok: false, error: failureOf(err) } satisfies ParseReply),
    );
    return;
  }
  if (request.kind === 'dkim') {
    verify(request).then(
      (dkim) => port.postMessage({ id: request.id, ok: true, dkim } satisfies ParseReply),
      (err: unknown) => port.postMessage({ id: request.id, ok: false, error: failureOf(err) } satisfies ParseReply),
    );
    return;
  }
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
