/** Messages between the parser pool (src/parse/pool.ts) and its threads (src/parse/worker.ts). */
import type { NetworkPolicy, SampleLimits, SampleSummary } from '../domain/samples.js';

/** Pool → thread: one sample (its bytes transferred, not copied) and the policy to read it with. */
export interface ParseRequest {
  id: number;
  raw: Uint8Array;
  network: NetworkPolicy;
  limits: SampleLimits;
}

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

/** Thread → pool: `ready` once, when the parser is loaded; then one reply per request. */
export type ParseReply = { ready: true } | { id: number; ok: true; summary: SampleSummary } | { id: number; ok: false; error: ParseFailure };

/** Most hops a NotOurMail refusal carries back (the first ones, where the reporter's own servers are). */
export const MAX_REFUSED_HOPS = 20;
