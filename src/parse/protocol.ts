/** Messages between the parser pool (src/parse/pool.ts) and its threads (src/parse/worker.ts). */
import type { DkimCheck } from '../domain/dkim.js';
import type { NetworkPolicy, SampleLimits, SampleSummary } from '../domain/samples.js';

/** Pool → thread: one sample (its bytes transferred, not copied) and the policy to read it with. */
export interface ParseRequest {
  kind?: 'parse';
  id: number;
  raw: Uint8Array;
  network: NetworkPolicy;
  limits: SampleLimits;
}

/**
 * Which message of `raw` a DKIM task verifies: `raw` itself (a partner's report), or the original message inside
 * it, found by the bounded MIME scan of src/domain/samples.ts (locateOriginal) and accepted only when its hash
 * is the summary's `sampleHash` (so it is the very message the summary describes).
 */
export type DkimTarget = { kind: 'message' } | { kind: 'original'; network: NetworkPolicy; limits: SampleLimits; sampleHash: string };

/** A signature worth verifying: its d= (lower case) and, when given, its s=. Others are listed as not checked. */
export interface WantedKey {
  domain: string;
  selector: string | null;
}

/** Pool → thread: verify the DKIM signatures of a message; keys are asked back of the pool (KeyQuestion). */
export interface DkimRequest {
  kind: 'dkim';
  id: number;
  raw: Uint8Array;
  target: DkimTarget;
  wanted: WantedKey[];
  /** Largest body hashed (dkim.ts CheckOptions). */
  maxBodyBytes?: number;
}

/** Pool → thread: the answer to a KeyQuestion (the TXT records, or the error code the resolver failed with). */
export interface KeyAnswer {
  kind: 'key';
  id: number;
  lookup: number;
  records?: string[][];
  code?: string;
  message?: string;
}

/** Pool → thread: a requester's answer by mail to a ticket's reply address, to read with postal-mime (bounded). */
export interface AnswerRequest {
  kind: 'answer';
  id: number;
  raw: Uint8Array;
  /** Most characters of the text kept (after the quoted history is cut). */
  maxTextChars: number;
}

/** What an answer by mail says: its From address, subject and new text (quoted history cut), all bounded. */
export interface MailAnswer {
  from: string;
  subject: string;
  text: string;
  /** The text was cut at maxTextChars. */
  truncated: boolean;
  /** An automatic reply (RFC 3834 Auto-Submitted, or the Precedence / X-Autoreply headers of older responders). */
  automatic: boolean;
}

export type PoolMessage = ParseRequest | DkimRequest | AnswerRequest | KeyAnswer;

/** A hop of a sample that is not our mail, as the refusal shows it. */
export interface RefusedHop {
  index: number;
  fromIp: string | null;
  fromHost: string | null;
  byHost: string | null;
}

export type ParseFailure =
  | { kind: 'sample'; code: string; message: string }
  | { kind: 'not-ours'; message: string; hops: RefusedHop[] }
  | { kind: 'error'; message: string };

/** Thread → pool: a DKIM task needs a key (the pool asks its resolver; the task's budget stops meanwhile). */
export interface KeyQuestion {
  id: number;
  key: { lookup: number; name: string; type: string };
}

/**
 * Thread → pool: `ready` once, when the parser is loaded; then one reply per request (a summary, a DKIM check
 * (null: the original was not found), or a refusal), and for a DKIM task any key questions before it.
 */
export type ParseReply =
  | { ready: true }
  | { id: number; ok: true; summary: SampleSummary }
  | { id: number; ok: true; dkim: DkimCheck | null }
  | { id: number; ok: true; answer: MailAnswer }
  | { id: number; ok: false; error: ParseFailure }
  | KeyQuestion;

/** Most hops a NotOurMail refusal carries back (the first ones, where the reporter's own servers are). */
export const MAX_REFUSED_HOPS = 20;

/** Most key questions one DKIM task may ask (dkim.ts checks at most MAX_SIGNATURES signature fields). */
export const MAX_KEY_QUESTIONS = 16;
