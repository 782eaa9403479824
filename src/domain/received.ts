/**
 * The `Received:` chain of an abuse sample: parsing one trace line, and finding where the message left our
 * network (the hand-off). Pure: no network, no disk.
 *
 * The walk goes top-down (index 0 = newest, written by the recipient's side) to the first hop whose sending
 * IP is inside one of our outbound pools. Everything below that hop was written before the message reached
 * the recipient's side, partly by the sender, and may be forged: it never decides anything.
 */
import { contains, parseAddress, parseNetwork, type Address, type Network } from './ip.js';

export type PoolName = 'normal' | 'high-risk' | 'relay';

export const POOL_NAMES: readonly PoolName[] = ['normal', 'high-risk', 'relay'];

/** Our own outbound network, as in the policy file's `network` section. */
export interface NetworkPolicy {
  pools: Partial<Record<PoolName, string[]>>;
  hostSuffix: string;
  tenantHeader: string;
}

/** One `Received:` line of a message; index 0 is the topmost (newest) line. */
export interface Hop {
  index: number;
  /** The header value, unfolded (line breaks of folding removed) and trimmed. */
  raw: string;
  fromHost: string | null;
  fromIp: string | null;
  byHost: string | null;
  /** byHost ends with the network's hostSuffix. */
  ourHop: boolean;
}

/** Where the message left our network. */
export interface Handoff {
  index: number;
  ip: string;
  pool: PoolName;
  /** Our outbound host: the hand-off line's from-host or rDNS name if ours, else the byHost of the hop just below if ours. */
  host: string | null;
}

/** parseReceived plus the reverse-DNS name the receiving server wrote next to the IP, when there is one. */
export interface ReceivedDetail {
  fromHost: string | null;
  fromIp: string | null;
  byHost: string | null;
  rdns: string | null;
}

/** Longest Received value we look at; real ones are a few hundred characters. */
const MAX_RECEIVED_LENGTH = 16_384;

/** At most this many Received lines are read from one message. */
export const MAX_HOPS = 500;

const CLAUSE_KEYWORDS = new Set(['from', 'by', 'via', 'with', 'id', 'for']);

type Token = { kind: 'word'; text: string } | { kind: 'comment'; text: string };

/** Splits a Received value into top-level words and (possibly nested) comments, up to the first top-level ';'. */
function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let word = '';
  const flush = (): void => {
    if (word !== '') tokens.push({ kind: 'word', text: word });
    word = '';
  };
  let i = 0;
  while (i < value.length) {
    const ch = value[i] ?? '';
    if (ch === ';') break; // the date follows
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') {
      flush();
      i++;
    } else if (ch === '(') {
      flush();
      let depth = 1;
      let j = i + 1;
      let text = '';
      while (j < value.length && depth > 0) {
        const c = value[j] ?? '';
        if (c === '\\' && j + 1 < value.length) {
          text += value[j + 1] ?? '';
          j += 2;
          continue;
        }
        if (c === '(') depth++;
        else if (c === ')') depth--;
        if (depth > 0) text += c;
        j++;
      }
      tokens.push({ kind: 'comment', text });
      i = j;
    } else if (ch === '"') {
      let j = i + 1;
      while (j < value.length && value[j] !== '"') j += value[j] === '\\' ? 2 : 1;
      word += value.slice(i, Math.min(j + 1, value.length));
      i = j + 1;
    } else {
      word += ch;
      i++;
    }
  }
  flush();
  return tokens;
}

/** The text without trailing characters from `chars` (a loop: an anchored regex would be quadratic on long runs). */
function stripTrailing(text: string, chars: string): string {
  let end = text.length;
  while (end > 0 && chars.includes(text[end - 1] ?? '')) end--;
  return text.slice(0, end);
}

/** Canonical text of an IP address, or null when the text is not one. */
function canonicalIp(text: string): string | null {
  if (text.length < 2 || text.length > 60 || !/^[0-9A-Fa-f:.]+$/.test(text)) return null;
  if (!text.includes('.') && !text.includes(':')) return null;
  try {
    return parseAddress(text).text;
  } catch {
    return null;
  }
}

/** An address literal `[1.2.3.4]`, `[IPv6:…]` (optionally followed by `:port`), or a bare address. */
function ipOfToken(token: string): { ip: string; bracketed: boolean } | null {
  const literal = /^\[(?:ipv6:)?([0-9a-f:.]{2,60})\](?::\d{1,5})?$/i.exec(token);
  if (literal) {
    const ip = canonicalIp(literal[1] ?? '');
    return ip ? { ip, bracketed: true } : null;
  }
  const bare = stripTrailing(token.replace(/^ipv6:/i, ''), '.,');
  const ip = canonicalIp(bare);
  return ip ? { ip, bracketed: false } : null;
}

function cleanHost(word: string | undefined): string | null {
  if (word === undefined) return null;
  const host = stripTrailing(word, '.');
  return host === '' ? null : host;
}

const looksLikeHostName = (word: string): boolean => /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?$/.test(word);

interface Candidate {
  ip: string;
  bracketed: boolean;
  rdns: string | null;
}

/** Sending-IP candidates in one from-clause comment, skipping HELO/EHLO arguments (they are the client's claim). */
function candidatesInComment(comment: string): Candidate[] {
  const words = joinSplitIpv6(comment.split(/[\s()]+/).filter((w) => w !== ''));
  const found: Candidate[] = [];
  for (let i = 0; i < words.length; i++) {
    const original = words[i] ?? '';
    const previous = i > 0 ? (words[i - 1] ?? '') : '';
    let isHelo = /^(helo|ehlo)$/i.test(previous);
    let word = original;
    const eq = word.indexOf('=');
    if (eq !== -1) {
      if (/^(helo|ehlo)$/i.test(word.slice(0, eq))) isHelo = true;
      word = word.slice(eq + 1);
    }
    if (isHelo) continue;
    const at = word.lastIndexOf('@'); // ident before the address: user@1.2.3.4
    if (at !== -1) word = word.slice(at + 1);
    const hit = ipOfToken(stripTrailing(word, ',;'));
    if (!hit) continue;
    const rdnsWord = previous.replace(/^.*@/, ''); // sendmail writes IDENT:user@rdns [ip]
    const rdns = hit.bracketed && looksLikeHostName(rdnsWord) ? cleanHost(rdnsWord) : null;
    found.push({ ...hit, rdns });
  }
  return found;
}

/**
 * Words of a comment with an IPv6 address that a paste split after a colon joined again: `(2603: 10b6:a03:100::39)`
 * is one address, 2603:10b6:a03:100::39, not the wrong 10b6:a03:100::39. Only a lone hex group ending in ':' followed
 * by a word of hex digits and colons is joined, so the walk stays one pass over the words.
 */
function joinSplitIpv6(words: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i] ?? '';
    const next = words[i + 1];
    if (next !== undefined && /^[0-9a-f]{1,4}:$/i.test(word) && /^[0-9a-f]{0,4}:[0-9a-f:.]*$/i.test(next) && canonicalIp(word + next) !== null) {
      out.push(word + next);
      i++;
    } else out.push(word);
  }
  return out;
}

/** Parses one Received value (unfolded or not) in full: from-host, sending IP, by-host and rDNS name. Never throws. */
export function analyseReceived(value: string): ReceivedDetail {
  const text = String(value).slice(0, MAX_RECEIVED_LENGTH).replace(/\r?\n(?=[ \t])/g, '');
  const tokens = tokenize(text);
  let clause: string | null = null;
  let fromWord: string | undefined;
  let byWord: string | undefined;
  let sawFrom = false;
  let sawBy = false;
  const fromComments: string[] = [];
  /** Address literals written as words after the from-host: `from host [1.2.3.4] by …`, `from unknown [1.2.3.4] (EHLO …)`. */
  const fromLiterals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'word') {
      const lower = token.text.toLowerCase();
      const expectingHost = (clause === 'from' && fromWord === undefined) || (clause === 'by' && byWord === undefined);
      if (expectingHost && !CLAUSE_KEYWORDS.has(lower)) {
        if (clause === 'from') fromWord = token.text;
        else byWord = token.text;
        continue;
      }
      if (clause === 'from' && token.text.startsWith('[') && fromLiterals.length < 4) {
        fromLiterals.push(token.text);
        continue;
      }
      if (CLAUSE_KEYWORDS.has(lower)) {
        // Only the first from- and by-clause count; a repeated keyword closes the clause without opening another.
        if (lower === 'from') clause = sawFrom ? 'other' : 'from';
        else if (lower === 'by') clause = sawBy ? 'other' : 'by';
        else clause = lower;
        if (lower === 'from') sawFrom = true;
        if (lower === 'by') sawBy = true;
      }
    } else if (clause === 'from') {
      fromComments.push(token.text);
    }
  }

  const candidates = fromComments.flatMap(candidatesInComment);
  let chosen = candidates.find((c) => c.bracketed);
  if (!chosen) {
    // `from host [ip] by …` (no comment holding the address, or only a HELO one): the literal the receiver wrote.
    for (const literal of fromLiterals) {
      const hit = ipOfToken(stripTrailing(literal, ',;'));
      if (hit?.bracketed) {
        chosen = { ...hit, rdns: null };
        break;
      }
    }
  }
  chosen ??= candidates[0];
  if (!chosen && fromWord !== undefined) {
    // No address written by the receiving server: an address literal in the from-domain position (Exim, "from [1.2.3.4]").
    const hit = ipOfToken(fromWord);
    if (hit) chosen = { ...hit, rdns: null };
  }
  return {
    fromHost: cleanHost(fromWord),
    fromIp: chosen?.ip ?? null,
    byHost: cleanHost(byWord),
    rdns: chosen?.rdns ?? null,
  };
}

/** Parses one Received value: the from-clause host, the sending IP (canonical; only from the from-clause) and the by-host. */
export function parseReceived(value: string): Omit<Hop, 'index' | 'raw' | 'ourHop'> {
  const { fromHost, fromIp, byHost } = analyseReceived(value);
  return { fromHost, fromIp, byHost };
}

/** True when the host name ends with our host suffix (case-insensitive). */
export function isOurHost(host: string | null, hostSuffix: string): boolean {
  const suffix = stripTrailing(hostSuffix.toLowerCase(), '.');
  if (host === null || suffix === '') return false;
  return stripTrailing(host.toLowerCase(), '.').endsWith(suffix);
}

/** Builds hops from Received values in header order (topmost first); at most MAX_HOPS, each raw at most MAX_RECEIVED_LENGTH. */
export function buildHops(receivedValues: string[], hostSuffix: string): Hop[] {
  return receivedValues.slice(0, MAX_HOPS).map((value, index) => {
    const raw = value.slice(0, MAX_RECEIVED_LENGTH).replace(/\r?\n(?=[ \t])/g, '').trim();
    const parsed = parseReceived(raw);
    return { index, raw, ...parsed, ourHop: isOurHost(parsed.byHost, hostSuffix) };
  });
}

interface CompiledNetwork {
  nets: { pool: PoolName; net: Network }[];
}

const compiledCache = new WeakMap<NetworkPolicy, CompiledNetwork>();

/** Parses the pool CIDRs once per policy object; a bad CIDR is a configuration error and throws. */
function compile(network: NetworkPolicy): CompiledNetwork {
  const cached = compiledCache.get(network);
  if (cached) return cached;
  const nets: CompiledNetwork['nets'] = [];
  for (const pool of POOL_NAMES) {
    for (const cidr of network.pools[pool] ?? []) {
      try {
        nets.push({ pool, net: parseNetwork(cidr) });
      } catch (err) {
        throw new Error(`network.pools.${pool}: "${cidr}" is not a valid network: ${(err as Error).message}`);
      }
    }
  }
  const compiled = { nets };
  compiledCache.set(network, compiled);
  return compiled;
}

/** Checks the network policy's pools (throws on a bad CIDR). */
export function validateNetwork(network: NetworkPolicy): void {
  compile(network);
}

/** The pool an address belongs to (most specific network wins), or null. */
export function poolOfAddress(addr: Address, network: NetworkPolicy): PoolName | null {
  let best: { pool: PoolName; prefix: number } | null = null;
  for (const { pool, net } of compile(network).nets) {
    if (contains(net, addr) && (best === null || net.prefix > best.prefix)) best = { pool, prefix: net.prefix };
  }
  return best?.pool ?? null;
}

/** The pool of an IP given as text, or null (also for text that is not an IP). */
export function poolOf(ip: string | null | undefined, network: NetworkPolicy): PoolName | null {
  if (ip === null || ip === undefined) return null;
  let addr: Address;
  try {
    addr = parseAddress(ip);
  } catch {
    return null;
  }
  return poolOfAddress(addr, network);
}

/** Top-down: the first hop (smallest index) whose sending IP is in one of our pools; hops below it never decide. */
export function findHandoff(hops: Hop[], network: NetworkPolicy): Handoff | null {
  const ordered = [...hops].sort((a, b) => a.index - b.index);
  for (let i = 0; i < ordered.length; i++) {
    const hop = ordered[i];
    if (!hop || hop.fromIp === null) continue;
    let addr: Address;
    try {
      addr = parseAddress(hop.fromIp);
    } catch {
      continue;
    }
    const pool = poolOfAddress(addr, network);
    if (pool === null) continue;
    return { index: hop.index, ip: addr.text, pool, host: ourHostOf(hop, ordered[i + 1], network.hostSuffix) };
  }
  return null;
}

function ourHostOf(hop: Hop, below: Hop | undefined, hostSuffix: string): string | null {
  if (isOurHost(hop.fromHost, hostSuffix)) return (hop.fromHost ?? '').toLowerCase();
  const { rdns } = analyseReceived(hop.raw);
  if (isOurHost(rdns, hostSuffix)) return (rdns ?? '').toLowerCase();
  if (below && isOurHost(below.byHost, hostSuffix)) return (below.byHost ?? '').toLowerCase();
  return null;
}
