/**
 * Abuse samples: turns what a reporter sent (a raw message, an ARF report per RFC 5965 or its early drafts, an
 * X-ARF report (0.2, or v3/v4 JSON bare, inside ARF or attached), a SpamCop report, a Microsoft JMRP complaint, or
 * a message forwarded as an attachment at any depth) into what we show them before they confirm: where the message
 * left our network, the tenant, 5321.MailFrom, 5322.From, Message-ID, date, subject, how it was read (`format`,
 * see SampleFormat), the reported domain, and the unverified signals naming our customer (CustomerSignals).
 * Where the original repeats Message-ID or Return-Path, the lowest (written at or below the hand-off) is taken.
 *
 * Pure: no network, no disk, no Redis. Never decompresses, fetches or executes anything from a sample; the only
 * decoding done is MIME transfer decoding (base64, quoted-printable) and character sets.
 *
 * Input guards run in this order, before any MIME parsing: size (TOO_LARGE), binary content (BINARY), the
 * bounds of the header block (TOO_COMPLEX), the shape of a message (NOT_A_MESSAGE); then MIME nesting (TOO_DEEP),
 * counting nested multiparts and every message/rfc822 level as one level each.
 *
 * Every header block (the message's, each MIME part's, each attached message's, the ARF report's) is bounded on
 * its bytes before it is read: block size, number of fields, length of a line and of an unfolded field. So are the
 * number of MIME parts and of attached messages, and the addresses of the From: field before it is parsed. Over a
 * bound the sample is refused (TOO_COMPLEX, or TOO_DEEP for the MIME parts as before). Nothing is parsed over the
 * whole sample but these byte scans: postal-mime's parser is not used (our own MIME scan finds everything we
 * read), only its RFC 2047 and address helpers on bounded field values.
 */
import { createHash } from 'node:crypto';
import { addressParser, decodeWords } from 'postal-mime';
import {
  arfFromXarf,
  firstField,
  headerNameEnd,
  looksLikeXarf,
  parseFeedbackReport,
  parseFieldBlock,
  parseXarfJson,
  parseXarfYaml,
  readXarfJson,
  textLines,
  type ArfReport,
  type Field,
  type XarfJsonReport,
  type XarfReport,
} from './arf.js';
import { parseAddress } from './ip.js';
import { buildHops, findHandoff, poolOf, validateNetwork, type Hop, type NetworkPolicy, type PoolName } from './received.js';

export type { ArfReport } from './arf.js';
export { parseFeedbackReport } from './arf.js';
export { findHandoff, parseReceived, poolOf } from './received.js';
export type { Handoff, Hop, NetworkPolicy, PoolName } from './received.js';

/** The policy's `samples` section (the bounds left out take SAMPLE_BOUNDS). */
export interface SampleLimits {
  maxBytes: number;
  maxMimeDepth: number;
  /** Largest header block (of the message, a MIME part, an attached message or the ARF report), in bytes. */
  maxHeaderBytes?: number;
  /** Most fields in one header block. */
  maxHeaderFields?: number;
  /** Longest header line, and longest header field once unfolded, in bytes. */
  maxLineLength?: number;
  /** Most addresses in the From: field. */
  maxAddressesPerField?: number;
  /** Most MIME parts (of every level together). */
  maxMimeParts?: number;
  /** Most attached messages (message/rfc822 parts, every level together). */
  maxNestedMessages?: number;
}

/** The bounds a SampleLimits may leave out (the policy file has the same defaults). */
export const SAMPLE_BOUNDS = {
  maxHeaderBytes: 2 * 1024 * 1024,
  maxHeaderFields: 20_000,
  maxLineLength: 64 * 1024,
  maxAddressesPerField: 100,
  maxMimeParts: 5000,
  maxNestedMessages: 50,
} as const;

/** Limits with every bound filled in. */
type Bounds = Required<SampleLimits>;

export type SampleKind = 'message' | 'arf' | 'x-arf' | 'forwarded';

/**
 * How a sample was read (shown to the reporter and to staff):
 * - `arf`: an ARF report (RFC 5965): `message/feedback-report` in a multipart/report, or in any multipart (some
 *   senders use multipart/mixed), the original as message/rfc822, text/rfc822-headers or a text part holding it;
 * - `arf-draft`: ARF of the early drafts, the original as `text/rfc822-header` or `message/rfc822-headers`;
 * - `xarf`: X-ARF 0.1/0.2 (a mail marked `X-ARF: yes` or `X-XARF: PLAIN`, the report as `Key: value` lines);
 * - `xarf-json`: X-ARF v3/v4 JSON, bare, inside an ARF report of `Feedback-Type: xarf`, or attached to a mail;
 * - `spamcop`: a SpamCop report, the spam inline under `[ Offending message ]`, the source on the `Email from` line;
 * - `jmrp`: a Microsoft JMRP complaint (not ARF), the complained-of message attached (also when forwarded);
 * - `forwarded`: a message forwarding the original as an attachment (any depth);
 * - `message`: the original message itself; `headers`: only its header block.
 */
export type SampleFormat = 'arf' | 'arf-draft' | 'xarf' | 'xarf-json' | 'spamcop' | 'jmrp' | 'forwarded' | 'message' | 'headers';

/**
 * Unverified signals of the original message naming our customer (the tenant directory matches them): its
 * Feedback-ID values, the d=/i=/s= of its DKIM-Signature fields, the domains of 5321.MailFrom and 5322.From.
 * Bounded: at most CUSTOMER_BOUNDS.items of each list, every text at most CUSTOMER_BOUNDS.length characters.
 */
export interface CustomerSignals {
  feedbackIds: string[];
  dkim: Array<{ domain: string; identity: string | null; selector: string }>;
  mailFromDomain: string | null;
  fromDomain: string | null;
}

export const CUSTOMER_BOUNDS = { items: 8, length: 255 } as const;

export interface ParsedSample {
  kind: SampleKind;
  /** How the sample was read (SampleFormat). */
  format: SampleFormat;
  /** Where the message left our network (canonical IP). */
  sourceIp: string;
  pool: PoolName;
  /** Our outbound host at the hand-off, when the headers name it. */
  ourHost: string | null;
  /** Index of the hand-off line in `hops`; -1 when the source came from the report's Source-IP/Source field. */
  handoffIndex: number;
  /** The original message's Received lines, topmost first (at most MAX_HOPS of them). */
  hops: Hop[];
  /** How many Received lines the original has (`hops` holds the first MAX_HOPS). */
  receivedCount: number;
  /** Our tenant header (topmost occurrence) in the original message, when it is a well-formed id. */
  tenant: string | null;
  /** 5321.MailFrom as a bare address: ARF Original-Mail-From, else the original's Return-Path. */
  mailFrom: string | null;
  /** 5322.From: the bare address. */
  from: string | null;
  /** The From display name, RFC 2047 decoded. */
  fromName: string | null;
  /** The original's Message-ID as written (angle brackets kept), trimmed. */
  messageId: string | null;
  /** The original's Date as ISO 8601 when it parses, else as written. */
  date: string | null;
  /** RFC 2047 decoded. */
  subject: string | null;
  /** ARF Feedback-Type, or X-ARF Report-Type/Category; `abuse` for SpamCop and JMRP complaints; null for plain and forwarded messages. */
  feedbackType: string | null;
  /** ARF Reported-Domain, or the domain an X-ARF report names; lower case; null when none. */
  reportedDomain: string | null;
  /** Unverified signals of the original message naming our customer. */
  customer: CustomerSignals;
  /** ARF fields; for X-ARF the report's fields mapped onto the same shape; null otherwise. */
  arf: ArfReport | null;
  /** sha256 hex of the original message, line endings normalised to LF and trailing whitespace trimmed. */
  sampleHash: string;
  /** The original message's raw header block (for showing as text). */
  originalHeaders: string;
}

export type SampleErrorCode = 'TOO_LARGE' | 'NOT_A_MESSAGE' | 'TOO_DEEP' | 'BINARY' | 'TOO_COMPLEX';

/** A sample we refuse; `message` is readable English meant for the public. */
export class SampleError extends Error {
  constructor(
    readonly code: SampleErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SampleError';
  }
}

/** The sample parsed, but no hop shows it leaving through our outbound pools; `hops` are the lines examined. */
export class NotOurMailError extends Error {
  readonly code = 'NotOurMail';
  constructor(
    message: string,
    readonly hops: Hop[],
  ) {
    super(message);
    this.name = 'NotOurMailError';
  }
}

/** Headers of which a message must have at least one. */
export const MESSAGE_HEADERS = ['from', 'received', 'message-id', 'date', 'subject', 'content-type', 'return-path'];

/** Most MIME parts (of every level together) we look at in one sample, unless the limits say otherwise. */
export const MAX_MIME_PARTS = SAMPLE_BOUNDS.maxMimeParts;

/** Most message/rfc822 attachments tried when looking for a forwarded message. */
const MAX_FORWARDED_TRIED = 20;

const TENANT_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BINARY_WINDOW = 64 * 1024;
const VIEW_SOURCE_HINT =
  'In your mail program use "Show original", "View source" or "Save as .eml" and send us all of it, starting with the header lines (Received:, From:, Subject: …).';

// ---------------------------------------------------------------------------------------------------------
// Input guards

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / (1024 * 1024)) * 10) / 10} MB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KB`;
  return `${n} bytes`;
}

function toBuffer(raw: Buffer | Uint8Array | string): Buffer {
  if (typeof raw === 'string') return Buffer.from(raw, 'utf8');
  return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Drops what often comes before pasted or exported messages: a UTF-8 BOM, blank lines, an mbox "From " line. */
function stripLeading(buf: Buffer): Buffer {
  let pos = 0;
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
  for (;;) {
    let i = pos;
    while (i < buf.length && (buf[i] === 32 || buf[i] === 9 || buf[i] === 13)) i++;
    if (i < buf.length && buf[i] === 10) pos = i + 1;
    else break;
  }
  // "From sender date" (mbox separator), not "From : value" (obsolete header syntax).
  if (buf.subarray(pos, pos + 5).toString('latin1') === 'From ' && buf[pos + 5] !== 58 && buf[pos + 5] !== 32 && buf[pos + 5] !== 9) {
    const nl = buf.indexOf(10, pos);
    pos = nl === -1 ? buf.length : nl + 1;
  }
  return buf.subarray(pos);
}

/** A NUL byte anywhere, or more than 10% control characters (other than tab, CR, LF) in the first 64 KB. */
function looksBinary(buf: Buffer): boolean {
  if (buf.indexOf(0) !== -1) return true;
  const n = Math.min(buf.length, BINARY_WINDOW);
  let control = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i] ?? 0;
    if ((b < 32 && b !== 9 && b !== 10 && b !== 13) || b === 127) control++;
  }
  return n > 0 && control * 10 > n;
}

/**
 * Offset of the empty line that ends the header block (or the end), and where the body starts. The block is
 * bounded on its bytes before anything reads it: its size, its number of fields, the length of each line and of
 * each field once unfolded; the walk stops at the first bound passed (TOO_COMPLEX). `what` names the block in the
 * refusal ("header lines of this message", "lines of the feedback report", …).
 */
function boundedHeader(buf: Buffer, limits: Bounds, what: string, start = 0, end = buf.length): { headerEnd: number; bodyStart: number } {
  let pos = start;
  let fields = 0;
  let field = 0;
  while (pos < end) {
    if (buf[pos] === 10) return { headerEnd: pos, bodyStart: pos + 1 };
    if (buf[pos] === 13 && pos + 1 < end && buf[pos + 1] === 10) return { headerEnd: pos, bodyStart: pos + 2 };
    let nl = buf.indexOf(10, pos);
    if (nl === -1 || nl >= end) nl = end;
    const line = nl - pos;
    if (line > limits.maxLineLength) throw refuse('TOO_COMPLEX', limits, `One of the ${what} is longer than our limit of ${formatBytes(limits.maxLineLength)}.`);
    if (Math.min(nl + 1, end) - start > limits.maxHeaderBytes) throw refuse('TOO_COMPLEX', limits, `The ${what} are larger than our limit of ${formatBytes(limits.maxHeaderBytes)}.`);
    // A line that does not start a field continues the one above (parseFieldBlock joins it there), so the bound on
    // an unfolded field holds for pasted headers that lost their folding blanks too.
    if (buf[pos] === 32 || buf[pos] === 9 || !startsField(buf, pos, nl)) field += line;
    else {
      field = line;
      if (++fields > limits.maxHeaderFields) throw refuse('TOO_COMPLEX', limits, `The ${what} have more than ${limits.maxHeaderFields} fields, more than we accept.`);
    }
    if (field > limits.maxLineLength) throw refuse('TOO_COMPLEX', limits, `One field of the ${what} is longer than our limit of ${formatBytes(limits.maxLineLength)} once its folded lines are joined.`);
    pos = nl + 1;
  }
  return { headerEnd: end, bodyStart: end };
}

/** Bytes of a field name (token characters, as arf.ts FIELD_NAME): A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~ */
const FIELD_NAME_BYTE = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-.^_`|~") FIELD_NAME_BYTE[c.charCodeAt(0)] = 1;

/** The line at `pos` (ending before `end`) starts a header field: a name, optional blanks, ':'. */
function startsField(buf: Buffer, pos: number, end: number): boolean {
  let i = pos;
  while (i < end && FIELD_NAME_BYTE[buf[i] ?? 0] === 1) i++;
  if (i === pos) return false;
  while (i < end && (buf[i] === 32 || buf[i] === 9)) i++;
  return i < end && buf[i] === 58;
}

/** Upper bound of the addresses in an address-list field: the top-level separators (`,` `;` `:`) outside quotes, comments and <>, plus one. */
function addressCount(value: string): number {
  let count = 1;
  let quoted = false;
  let comment = 0;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 92) i++; // backslash escapes the next character
    else if (quoted) quoted = c !== 34;
    else if (c === 34) quoted = true;
    else if (c === 40) comment++;
    else if (c === 41 && comment > 0) comment--;
    else if (comment > 0) continue;
    else if (c === 60) angle = true;
    else if (c === 62) angle = false;
    else if (!angle && (c === 44 || c === 59 || c === 58)) count++;
  }
  return count;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** True when the text is a non-empty block of RFC 5322 field lines including at least one typical message header. */
function isMessageHeaderBlock(text: string): boolean {
  if (text.length === 0) return false;
  let known = false;
  let first = true;
  for (const line of textLines(text)) {
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) {
      if (first) return false;
      continue;
    }
    const colon = headerNameEnd(line);
    if (colon === -1) return false;
    if (!known && MESSAGE_HEADERS.includes(line.slice(0, colon).trimEnd().toLowerCase())) known = true;
    first = false;
  }
  return known;
}

function refuse(code: SampleErrorCode, limits: SampleLimits, detail?: string): SampleError {
  switch (code) {
    case 'TOO_COMPLEX':
      return new SampleError(code, `${detail ?? 'This message is built in a way we do not read.'} Please send the message as your mail program saved it (or only its full headers), not a constructed one.`);
    case 'TOO_LARGE':
      return new SampleError(
        code,
        detail ?? `The sample is larger than our limit of ${formatBytes(limits.maxBytes)}. Please send the message without large attachments, or only its full headers.`,
      );
    case 'BINARY':
      return new SampleError(
        code,
        'This looks like a binary file, not an email message. Please send the message as text (an .eml file or the message source). ' + VIEW_SOURCE_HINT,
      );
    case 'NOT_A_MESSAGE':
      return new SampleError(code, `This does not look like an email message: it does not start with mail header lines. ${VIEW_SOURCE_HINT}`);
    case 'TOO_DEEP':
      return new SampleError(
        code,
        detail ??
          `This message nests its parts (attachments inside attachments) more than ${limits.maxMimeDepth} levels deep, which we do not accept. Please send the original message itself rather than a forward of a forward.`,
      );
  }
}

// ---------------------------------------------------------------------------------------------------------
// MIME structure

interface ContentType {
  type: string;
  params: Record<string, string>;
}

/** Parses `type/subtype; name=value; name="quoted"` (also Content-Disposition); type lower-cased. */
function parseStructured(value: string | null, fallback: string): ContentType {
  const params = Object.create(null) as Record<string, string>;
  if (value === null) return { type: fallback, params };
  const segments: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] ?? '';
    if (quoted && ch === '\\' && i + 1 < value.length) {
      current += value[i + 1] ?? '';
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === ';' && !quoted) {
      segments.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  segments.push(current);
  const head = (segments[0] ?? '').replace(/\([^()]*\)/g, '').trim().toLowerCase();
  for (const segment of segments.slice(1)) {
    const eq = segment.indexOf('=');
    if (eq === -1) continue;
    const name = segment.slice(0, eq).trim().toLowerCase();
    let v = segment.slice(eq + 1).trim();
    if (v.startsWith('"')) v = v.slice(1, v.endsWith('"') && v.length > 1 ? -1 : undefined);
    if (name !== '' && !(name in params)) params[name] = v;
  }
  return { type: head === '' ? fallback : head, params };
}

/** One MIME entity: a range of `buf` (with `text` its latin1 view, so string offsets are byte offsets). */
interface Entity {
  buf: Buffer;
  text: string;
  start: number;
  headerEnd: number;
  bodyStart: number;
  end: number;
  depth: number;
  type: string;
  params: Record<string, string>;
  disposition: string | null;
  transferEncoding: string;
  children: Entity[];
  /** For message/rfc822 (and message/global): the embedded message. */
  message: Entity | null;
}

interface ScanState {
  maxDepth: number;
  parts: number;
  messages: number;
  limits: Bounds;
}

/** Ranges of the body parts of a multipart body (preamble and epilogue left out); stops after `cap` + 1 parts. */
function splitMultipart(text: string, from: number, to: number, boundary: string, cap: number): [number, number][] {
  const delimiter = `--${boundary}`;
  const parts: [number, number][] = [];
  let partStart = -1;
  let pos = from;
  while (pos < to) {
    const idx = text.indexOf(delimiter, pos);
    if (idx === -1 || idx + delimiter.length > to) break;
    pos = idx + 1;
    if (idx !== from && text.charCodeAt(idx - 1) !== 10) continue;
    let after = idx + delimiter.length;
    const close = after + 2 <= to && text.startsWith('--', after);
    if (close) after += 2;
    while (after < to && (text.charCodeAt(after) === 32 || text.charCodeAt(after) === 9)) after++;
    let lineEnd: number;
    if (after >= to) lineEnd = to;
    else if (text.charCodeAt(after) === 10) lineEnd = after + 1;
    else if (text.charCodeAt(after) === 13 && after + 1 < to && text.charCodeAt(after + 1) === 10) lineEnd = after + 2;
    else continue; // "--boundaryX": a different, longer boundary
    if (partStart !== -1) {
      let partEnd = idx;
      if (partEnd > partStart && text.charCodeAt(partEnd - 1) === 10) partEnd--;
      if (partEnd > partStart && text.charCodeAt(partEnd - 1) === 13) partEnd--;
      parts.push([partStart, partEnd]);
      if (parts.length > cap) return parts;
    }
    if (close) return parts;
    partStart = lineEnd;
    pos = lineEnd;
  }
  if (partStart !== -1) parts.push([partStart, to]);
  return parts;
}

/** Quoted-printable to bytes (input is a latin1 string, one char per byte). */
function decodeQuotedPrintable(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 61) {
      if (text.charCodeAt(i + 1) === 13 && text.charCodeAt(i + 2) === 10) {
        i += 2;
        continue;
      }
      if (text.charCodeAt(i + 1) === 10) {
        i += 1;
        continue;
      }
      const hex = text.slice(i + 1, i + 3);
      if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
        out[n++] = parseInt(hex, 16);
        i += 2;
        continue;
      }
    }
    out[n++] = c & 0xff;
  }
  return out.subarray(0, n);
}

/** The entity's body after transfer decoding (identity encodings return a view, not a copy). */
function decodedBody(e: Entity): Buffer {
  if (e.transferEncoding === 'base64') return Buffer.from(e.text.slice(e.bodyStart, e.end), 'base64');
  if (e.transferEncoding === 'quoted-printable') return decodeQuotedPrintable(e.text.slice(e.bodyStart, e.end));
  return e.buf.subarray(e.bodyStart, e.end);
}

/** The body as text in its declared charset (UTF-8 when none or unknown). */
function bodyText(e: Entity, bytes: Buffer = decodedBody(e)): string {
  const charset = (e.params.charset ?? 'utf-8').trim();
  try {
    return new TextDecoder(charset).decode(bytes);
  } catch {
    return lenientUtf8.decode(bytes);
  }
}

const isEmbeddedMessage = (type: string): boolean => type === 'message/rfc822' || type === 'message/global';

function scanEntity(buf: Buffer, text: string, start: number, end: number, depth: number, state: ScanState, defaultType: string): Entity {
  if (depth > state.maxDepth) throw refuse('TOO_DEEP', state.limits);
  state.parts++;
  const maxParts = state.limits.maxMimeParts;
  if (state.parts > maxParts) {
    throw refuse('TOO_DEEP', state.limits, `This message has more than ${maxParts} MIME parts, which we do not accept. Please send the original message itself.`);
  }
  const { headerEnd, bodyStart } = boundedHeader(buf, state.limits, depth === 0 ? 'header lines of this message' : 'header lines of one of its parts', start, end);
  const fields = parseFieldBlock(text.slice(start, headerEnd));
  const contentType = parseStructured(firstField(fields, 'content-type'), defaultType);
  const disposition = firstField(fields, 'content-disposition');
  const entity: Entity = {
    buf,
    text,
    start,
    headerEnd,
    bodyStart,
    end,
    depth,
    type: contentType.type,
    params: contentType.params,
    disposition: disposition === null ? null : parseStructured(disposition, '').type || null,
    transferEncoding: (firstField(fields, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase(),
    children: [],
    message: null,
  };
  const boundary = entity.params.boundary;
  if (entity.type.startsWith('multipart/') && boundary !== undefined && boundary !== '') {
    const childType = entity.type === 'multipart/digest' ? 'message/rfc822' : 'text/plain';
    for (const [s, e] of splitMultipart(text, bodyStart, end, boundary, maxParts - state.parts)) {
      entity.children.push(scanEntity(buf, text, s, e, depth + 1, state, childType));
    }
  } else if (isEmbeddedMessage(entity.type)) {
    if (++state.messages > state.limits.maxNestedMessages) {
      throw refuse('TOO_COMPLEX', state.limits, `This message carries more than ${state.limits.maxNestedMessages} attached messages, more than we accept.`);
    }
    if (entity.transferEncoding === 'base64' || entity.transferEncoding === 'quoted-printable') {
      const inner = decodedBody(entity);
      entity.message = scanEntity(inner, inner.toString('latin1'), 0, inner.length, depth + 1, state, 'text/plain');
    } else {
      entity.message = scanEntity(buf, text, bodyStart, end, depth + 1, state, 'text/plain');
    }
  }
  return entity;
}

/** The entity and its parts, depth first, without entering embedded messages. */
function* partsOf(e: Entity): Generator<Entity> {
  yield e;
  for (const child of e.children) yield* partsOf(child);
}

// ---------------------------------------------------------------------------------------------------------
// The original message

interface Original {
  bytes: Buffer;
  headerText: string;
  fields: Field[];
}

function originalOf(bytes: Buffer, limits: Bounds): Original | null {
  const { headerEnd } = boundedHeader(bytes, limits, 'header lines of the reported message');
  const headerText = lenientUtf8.decode(bytes.subarray(0, headerEnd));
  const fields = parseFieldBlock(headerText);
  return fields.length === 0 ? null : { bytes, headerText, fields };
}

function entityBytes(e: Entity): Buffer {
  return e.buf.subarray(e.start, e.end);
}

/**
 * The bytes with CRLF and a lone CR turned into LF (a copy only when there is a CR). One plain pass over the bytes:
 * copying segment by segment costs a call per line, seconds on millions of short lines.
 */
function lfOnly(buf: Buffer): Buffer {
  const first = buf.indexOf(13);
  if (first === -1) return buf;
  const out = Buffer.allocUnsafe(buf.length);
  let n = buf.copy(out, 0, 0, first);
  for (let i = first; i < buf.length; i++) {
    const b = buf[i]!;
    if (b !== 13) out[n++] = b;
    else if (buf[i + 1] !== 10) out[n++] = 10;
  }
  return out.subarray(0, n);
}

/** sha256 hex of the bytes with CRLF and CR turned into LF and trailing whitespace of the whole text trimmed. */
export function sampleHashOf(bytes: Uint8Array | string): string {
  const lf = lfOnly(typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  let end = lf.length;
  while (end > 0) {
    const c = lf[end - 1];
    if (c === 32 || c === 9 || c === 10 || c === 11 || c === 12) end--;
    else break;
  }
  return createHash('sha256').update(lf.subarray(0, end)).digest('hex');
}

/** The bare address in a Return-Path / Original-Mail-From value; null for the null path "<>". */
export function bareAddress(value: string | null): string | null {
  if (value === null) return null;
  const v = value.trim();
  const bracketed = /<([^<>]*)>/.exec(v);
  const address = (bracketed ? (bracketed[1] ?? '') : (v.split(/\s+/)[0] ?? '')).trim().replace(/^"(.*)"$/, '$1');
  return address === '' ? null : address;
}

function dateOf(value: string | null): string | null {
  if (value === null || value.trim() === '') return null;
  const raw = value.replace(/\s+/g, ' ').trim();
  const parsed = raw.length <= 200 ? new Date(raw) : new Date(NaN);
  return Number.isNaN(parsed.getTime()) ? raw : parsed.toISOString();
}

function decoded(value: string | null): string | null {
  if (value === null) return null;
  try {
    return decodeWords(value);
  } catch {
    return value;
  }
}

/**
 * The value of the lowest field of that name: where a header appears twice (a Message-ID or Return-Path added by a
 * receiving system above the author's, two Return-Paths of a forwarder), the one written at or below the hand-off
 * hop (the hops are prepended, so the lowest is the one written nearest the sender) rather than the first.
 */
function lowestField(fields: Field[], name: string): string | null {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i]?.lname === name) return fields[i]?.value ?? null;
  return null;
}

const boundText = (v: string): string => v.slice(0, CUSTOMER_BOUNDS.length);

/** The domain of an address (after its last '@'), lower case, or null. */
export function domainOf(address: string | null): string | null {
  if (address === null) return null;
  const at = address.lastIndexOf('@');
  if (at === -1) return null;
  const domain = stripDots(address.slice(at + 1).trim().replace(/[>\]]+$/, '').replace(/^\[/, '')).toLowerCase();
  return domain !== '' && domain.length <= CUSTOMER_BOUNDS.length && /^[^\s@<>()",;]+$/.test(domain) ? domain : null;
}

function stripDots(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 46) end--;
  return text.slice(0, end);
}

/** The d=, i= and s= tags of DKIM-Signature values (at most CUSTOMER_BOUNDS.items signatures with both d= and s=). */
function dkimSignals(fields: Field[]): CustomerSignals['dkim'] {
  const out: CustomerSignals['dkim'] = [];
  for (const f of fields) {
    if (f.lname !== 'dkim-signature') continue;
    if (out.length >= CUSTOMER_BOUNDS.items) break;
    const tags = new Map<string, string>();
    for (const part of f.value.split(';')) {
      const eq = part.indexOf('=');
      if (eq === -1) continue;
      const tag = part.slice(0, eq).trim().toLowerCase();
      if ((tag === 'd' || tag === 'i' || tag === 's') && !tags.has(tag)) tags.set(tag, part.slice(eq + 1).replace(/\s+/g, ''));
    }
    const domain = stripDots(tags.get('d') ?? '').toLowerCase();
    const selector = tags.get('s') ?? '';
    if (domain === '' || selector === '') continue;
    const identity = tags.get('i');
    out.push({ domain: boundText(domain), identity: identity ? boundText(identity) : null, selector: boundText(selector) });
  }
  return out;
}

/** Feedback-ID values (trimmed, non-empty), at most CUSTOMER_BOUNDS.items. */
function feedbackIdsOf(fields: Field[]): string[] {
  const out: string[] = [];
  for (const f of fields) {
    if (out.length >= CUSTOMER_BOUNDS.items) break;
    if (f.lname !== 'feedback-id') continue;
    const v = f.value.replace(/\s+/g, ' ').trim();
    if (v !== '') out.push(boundText(v));
  }
  return out;
}

interface OriginalFacts {
  feedbackIds: string[];
  dkim: CustomerSignals['dkim'];
  /** The original carries Microsoft JMRP's mark (X-HmXmrOriginalRecipient). */
  jmrp: boolean;
  hops: Hop[];
  receivedCount: number;
  tenant: string | null;
  returnPath: string | null;
  from: string | null;
  fromName: string | null;
  messageId: string | null;
  date: string | null;
  subject: string | null;
  sampleHash: string;
  originalHeaders: string;
  /** The original message's bytes (the ones `sampleHash` is of); null when the report carries none. */
  bytes: Buffer | null;
}

function factsOf(original: Original, network: NetworkPolicy, limits: Bounds): OriginalFacts {
  const { fields } = original;
  const received = fields.filter((f) => f.lname === 'received').map((f) => f.value);
  const tenantValue = firstField(fields, network.tenantHeader)?.trim() ?? null;
  let from: string | null = null;
  let fromName: string | null = null;
  const fromValue = firstField(fields, 'from');
  if (fromValue !== null) {
    if (addressCount(fromValue) > limits.maxAddressesPerField) {
      throw refuse('TOO_COMPLEX', limits, `The From: field of the reported message lists more than ${limits.maxAddressesPerField} addresses, more than we accept.`);
    }
    try {
      const first = addressParser(fromValue)[0];
      const mailbox = first?.group ? first.group[0] : first;
      from = mailbox?.address ? mailbox.address : null;
      fromName = mailbox?.name ? mailbox.name : null;
    } catch {
      from = null;
    }
  }
  const messageId = lowestField(fields, 'message-id')?.trim() ?? null;
  return {
    feedbackIds: feedbackIdsOf(fields),
    dkim: dkimSignals(fields),
    jmrp: fields.some((f) => f.lname === 'x-hmxmroriginalrecipient'),
    hops: buildHops(received, network.hostSuffix),
    receivedCount: received.length,
    tenant: tenantValue !== null && TENANT_ID.test(tenantValue) ? tenantValue : null,
    returnPath: bareAddress(lowestField(fields, 'return-path')),
    from,
    fromName,
    messageId: messageId === '' ? null : messageId,
    date: dateOf(firstField(fields, 'date')),
    subject: decoded(firstField(fields, 'subject')),
    sampleHash: sampleHashOf(original.bytes),
    originalHeaders: original.headerText.replace(/\r?\n$/, ''),
    bytes: original.bytes,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Source of the message

interface Source {
  ip: string;
  pool: PoolName;
  host: string | null;
  index: number;
}

function sourceFromHops(hops: Hop[], network: NetworkPolicy): Source | null {
  const handoff = findHandoff(hops, network);
  return handoff ? { ip: handoff.ip, pool: handoff.pool, host: handoff.host, index: handoff.index } : null;
}

/** A report's Source-IP / Source field, if it is one of our pool addresses. */
function sourceFromReportedIp(value: string | null, network: NetworkPolicy): Source | null {
  if (value === null) return null;
  const text = value
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/^ipv6:/i, '');
  let ip: string;
  try {
    ip = parseAddress(text).text;
  } catch {
    return null;
  }
  const pool = poolOf(ip, network);
  return pool ? { ip, pool, host: null, index: -1 } : null;
}

function notOurMail(hops: Hop[], report: boolean): NotOurMailError {
  if (hops.length === 0) {
    return new NotOurMailError(
      report
        ? 'The report does not include the original message headers and does not name one of our addresses, so we cannot tell that this mail left through our network. Please include the complete original message with all of its headers.'
        : `We could not find any "Received:" header lines in this message, so we cannot tell where it came from. Please send the complete original message with all of its headers. ${VIEW_SOURCE_HINT}`,
      hops,
    );
  }
  return new NotOurMailError(
    'This message did not leave through our network: none of its "Received:" header lines shows it being handed over by one of our outbound servers. ' +
      'Please report it to the network it came from (the first "Received:" line added outside your own mail provider names its address). ' +
      'If you are sure it came from us, check that you sent the complete message with its full, unchanged headers.',
    hops,
  );
}

/** A parsed sample and the bytes of the original message it describes (null when the report carries none). */
interface Located {
  sample: ParsedSample;
  original: Buffer | null;
}

interface Reading {
  kind: SampleKind;
  format: SampleFormat;
  arf: ArfReport | null;
  feedbackType: string | null;
  /** 5321.MailFrom the report states (ARF Original-Mail-From, X-ARF smtp_from); else the original's Return-Path. */
  mailFrom: string | null;
  reportedDomain: string | null;
}

/** A reported domain as a desk writes it: trimmed, quotes and a trailing dot dropped, lower case; null when empty. */
function reportedDomainOf(value: string | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const v = stripDots(value.trim().replace(/^(['"])(.*)\1$/, '$2').trim()).toLowerCase();
  return v === '' ? null : v.slice(0, CUSTOMER_BOUNDS.length);
}

function result(source: Source, facts: OriginalFacts, reading: Reading): Located {
  const mailFrom = reading.mailFrom ?? facts.returnPath;
  const sample: ParsedSample = {
    kind: reading.kind,
    format: reading.format,
    sourceIp: source.ip,
    pool: source.pool,
    ourHost: source.host,
    handoffIndex: source.index,
    hops: facts.hops,
    receivedCount: facts.receivedCount,
    tenant: facts.tenant,
    mailFrom,
    from: facts.from,
    fromName: facts.fromName,
    messageId: facts.messageId,
    date: facts.date,
    subject: facts.subject,
    feedbackType: reading.feedbackType,
    reportedDomain: reportedDomainOf(reading.reportedDomain),
    customer: { feedbackIds: facts.feedbackIds, dkim: facts.dkim, mailFromDomain: domainOf(mailFrom), fromDomain: domainOf(facts.from) },
    arf: reading.arf,
    sampleHash: facts.sampleHash,
    originalHeaders: facts.originalHeaders,
  };
  return { sample, original: facts.bytes };
}

/** Facts for a report that carries no original message: nothing but the hash of the whole report. */
function emptyFacts(reportBytes: Buffer): OriginalFacts {
  return {
    feedbackIds: [],
    dkim: [],
    jmrp: false,
    hops: [],
    receivedCount: 0,
    tenant: null,
    returnPath: null,
    from: null,
    fromName: null,
    messageId: null,
    date: null,
    subject: null,
    sampleHash: sampleHashOf(reportBytes),
    originalHeaders: '',
    bytes: null,
  };
}

/** Types of the part an early-draft ARF report carries the original's headers in. */
const DRAFT_HEADER_TYPES = new Set(['text/rfc822-header', 'message/rfc822-headers']);

/** Most text parts looked at for an original written as text (an ARF report's, a SpamCop report's). */
const MAX_TEXT_PARTS = 8;

/** The decoded text part holds a message (its header block starts it and names Received or Message-ID). */
function textOriginal(bytes: Buffer, limits: Bounds): Original | null {
  const start = stripLeading(bytes);
  const original = originalOf(start, limits);
  if (!original || !isMessageHeaderBlock(original.headerText)) return null;
  return original.fields.some((f) => f.lname === 'received' || f.lname === 'message-id') ? original : null;
}

/**
 * The report's original message: an embedded message/rfc822 part, a text/rfc822-headers part, the early drafts'
 * text/rfc822-header and message/rfc822-headers (draft: true), or else a text part that holds a message.
 */
function reportOriginal(root: Entity, limits: Bounds): { original: Original; draft: boolean } | null {
  let texts = 0;
  let textFallback: Original | null = null;
  for (const part of partsOf(root)) {
    if (part === root) continue;
    if (part.message) {
      const original = originalOf(entityBytes(part.message), limits);
      if (original) return { original, draft: false };
    } else if (part.type === 'text/rfc822-headers' || DRAFT_HEADER_TYPES.has(part.type)) {
      const original = originalOf(stripLeading(decodedBody(part)), limits);
      if (original) return { original, draft: part.type !== 'text/rfc822-headers' };
    } else if (part.type === 'text/plain' && textFallback === null && part.children.length === 0 && texts++ < MAX_TEXT_PARTS) {
      textFallback = textOriginal(decodedBody(part), limits);
    }
  }
  return textFallback ? { original: textFallback, draft: false } : null;
}

/** A multipart/report of report-type feedback-report, or any multipart carrying a message/feedback-report part. */
function isFeedbackReport(root: Entity): boolean {
  if (!root.type.startsWith('multipart/')) return false;
  if (root.type === 'multipart/report' && (root.params['report-type'] ?? '').trim().toLowerCase() === 'feedback-report') return true;
  for (const part of partsOf(root)) if (part.type === 'message/feedback-report') return true;
  return false;
}

/** The fields of a `message/feedback-report` part: a header block, bounded like one. */
function feedbackReportOf(part: Entity, limits: Bounds): ArfReport {
  const body = decodedBody(part);
  const { headerEnd } = boundedHeader(body, limits, 'lines of the feedback report');
  return parseFeedbackReport(bodyText(part, body.subarray(0, headerEnd)));
}

/** Most JSON parts read when looking for an X-ARF v3/v4 report. */
const MAX_JSON_PARTS = 4;

/** An X-ARF v3/v4 JSON report among the (leaf) parts: application/json, *+json, or a text part holding JSON. */
function xarfJsonIn(root: Entity): XarfJsonReport | null {
  let tried = 0;
  for (const part of partsOf(root)) {
    if (part === root || part.children.length > 0 || part.message) continue;
    const json = part.type === 'application/json' || part.type.endsWith('+json');
    if (!json && part.type !== 'text/plain' && part.type !== 'application/octet-stream') continue;
    const body = decodedBody(part);
    let i = 0;
    while (i < body.length && (body[i] === 32 || body[i] === 9 || body[i] === 10 || body[i] === 13)) i++;
    if (body[i] !== 123) continue; // '{'
    if (tried++ >= MAX_JSON_PARTS) break;
    const report = readXarfJson(bodyText(part, body));
    if (report) return report;
  }
  return null;
}

/** The ARF-shaped view of an X-ARF JSON report, to show alongside. */
function arfOfXarfJson(report: XarfJsonReport): ArfReport {
  return {
    feedbackType: report.reportType ?? report.category,
    userAgent: null,
    version: report.version,
    sourceIp: report.source,
    originalMailFrom: report.mailFrom,
    originalRcptTo: null,
    arrivalDate: report.date,
    reportedDomain: report.domain,
  };
}

/** Reads an X-ARF v3/v4 JSON report (bare, or found in a mail): its sample is the original, its SourceIp the fallback source. */
function parseXarfJsonReport(report: XarfJsonReport, container: Buffer, network: NetworkPolicy, limits: Bounds): Located {
  let original: Original | null = null;
  for (const sample of report.samples) {
    if (sample.length > limits.maxBytes) continue;
    original = originalOf(stripLeading(lfIfBareCr(sample)), limits);
    if (original) break;
  }
  const facts = original ? factsOf(original, network, limits) : emptyFacts(container);
  const source = sourceFromHops(facts.hops, network) ?? sourceFromReportedIp(report.source, network);
  if (!source) throw notOurMail(facts.hops, true);
  return result(source, facts, {
    kind: 'x-arf',
    format: 'xarf-json',
    arf: arfOfXarfJson(report),
    feedbackType: report.reportType ?? report.category,
    mailFrom: bareAddress(report.mailFrom),
    reportedDomain: report.domain,
  });
}

/**
 * 5321.MailFrom of an ARF report: its Original-Mail-From, unless that is written as a 5322 address with a display
 * name (`Name <a@b>`, some feedback loops copy the From: there) and the original has a Return-Path: then that.
 */
function reportedMailFrom(originalMailFrom: string | null, returnPath: string | null): string | null {
  const stated = bareAddress(originalMailFrom);
  if (stated === null || returnPath === null) return stated;
  const named = /^\s*[^<\s][^<]*</.test(originalMailFrom ?? '');
  return named ? returnPath : stated;
}

function parseArf(root: Entity, bytes: Buffer, network: NetworkPolicy, limits: Bounds): Located {
  let arf: ArfReport | null = null;
  for (const part of partsOf(root)) {
    if (part.type === 'message/feedback-report') {
      arf = feedbackReportOf(part, limits);
      break;
    }
  }
  arf ??= parseFeedbackReport('');
  if ((arf.feedbackType ?? '').toLowerCase() === 'xarf') {
    // ARF as the envelope of an X-ARF JSON report (abusix): the JSON says what happened and where.
    const report = xarfJsonIn(root);
    if (report) return parseXarfJsonReport(report, bytes, network, limits);
  }
  const found = reportOriginal(root, limits);
  const facts = found ? factsOf(found.original, network, limits) : emptyFacts(bytes);
  const source = sourceFromHops(facts.hops, network) ?? sourceFromReportedIp(arf.sourceIp, network);
  if (!source) throw notOurMail(facts.hops, true);
  return result(source, facts, {
    kind: 'arf',
    format: found?.draft ? 'arf-draft' : 'arf',
    arf,
    feedbackType: arf.feedbackType?.toLowerCase() ?? null,
    mailFrom: reportedMailFrom(arf.originalMailFrom, facts.returnPath),
    reportedDomain: arf.reportedDomain,
  });
}

function xarfReportIn(root: Entity): XarfReport | null {
  let yaml: XarfReport | null = null;
  for (const part of partsOf(root)) {
    if (part.children.length > 0 || part.message) continue;
    const json = part.type === 'application/json' || part.type.endsWith('+json');
    if (!json && part.type !== 'text/plain') continue;
    const text = bodyText(part);
    const report = parseXarfJson(text);
    if (report && looksLikeXarf(report)) return report;
    if (!json && yaml === null) yaml = parseXarfYaml(text);
  }
  return yaml;
}

/** An X-ARF mail: `X-ARF: yes` (0.1/0.2), or `X-XARF: PLAIN` as blocklist.de and others write it. */
function isXarfMail(fields: Field[]): boolean {
  const xarf = (firstField(fields, 'x-arf') ?? '').trim().toLowerCase();
  const xxarf = (firstField(fields, 'x-xarf') ?? '').trim().toLowerCase();
  return xarf === 'yes' || xxarf === 'plain' || xxarf === 'yes';
}

function parseXarf(root: Entity, bytes: Buffer, network: NetworkPolicy, limits: Bounds): Located {
  const json = xarfJsonIn(root);
  if (json) return parseXarfJsonReport(json, bytes, network, limits);
  const report = xarfReportIn(root);
  const found = reportOriginal(root, limits);
  const facts = found ? factsOf(found.original, network, limits) : emptyFacts(bytes);
  const source = sourceFromHops(facts.hops, network) ?? sourceFromReportedIp(report?.source ?? null, network);
  if (!source) throw notOurMail(facts.hops, true);
  const feedbackType = report ? (report.reportType ?? report.category) : null;
  const domain = report ? (report.fields.Domain ?? report.fields.domain ?? report.fields['Reported-Domain'] ?? null) : null;
  return result(source, facts, {
    kind: 'x-arf',
    format: 'xarf',
    arf: report ? { ...arfFromXarf(report), reportedDomain: domain } : null,
    feedbackType: feedbackType?.toLowerCase() ?? null,
    mailFrom: null,
    reportedDomain: domain,
  });
}

const SPAMCOP_MARK = Buffer.from('[ Offending message ]');
/** SpamCop's line naming the source: `Email from 192.0.2.1 / <date>`. */
const SPAMCOP_SOURCE = /^Email from ([0-9A-Fa-f][0-9A-Fa-f:.]{1,59}) \//m;

/** A SpamCop report: a text part with the spam inline under `[ Offending message ]` and the source on the `Email from` line. */
function spamcopIn(root: Entity, limits: Bounds): { original: Original | null; sourceIp: string | null } | null {
  let tried = 0;
  for (const part of partsOf(root)) {
    if (part.children.length > 0 || part.message || part.type !== 'text/plain') continue;
    if (tried++ >= MAX_TEXT_PARTS) break;
    const body = decodedBody(part);
    const mark = body.indexOf(SPAMCOP_MARK);
    if (mark === -1) continue;
    const intro = body.subarray(Math.max(0, mark - 64 * 1024), mark).toString('latin1');
    const sourceIp = SPAMCOP_SOURCE.exec(intro)?.[1] ?? null;
    const nl = body.indexOf(10, mark);
    const spam = nl === -1 ? Buffer.alloc(0) : stripLeading(body.subarray(nl + 1));
    return { original: spam.length > 0 ? originalOf(spam, limits) : null, sourceIp };
  }
  return null;
}

function parseSpamcop(found: { original: Original | null; sourceIp: string | null }, bytes: Buffer, network: NetworkPolicy, limits: Bounds): Located {
  const facts = found.original ? factsOf(found.original, network, limits) : emptyFacts(bytes);
  const source = sourceFromHops(facts.hops, network) ?? sourceFromReportedIp(found.sourceIp, network);
  if (!source) throw notOurMail(facts.hops, true);
  return result(source, facts, { kind: 'forwarded', format: 'spamcop', arf: null, feedbackType: 'abuse', mailFrom: null, reportedDomain: null });
}

/** Every attached message, depth first, entering attached messages (a forward of a JMRP complaint is two levels deep). */
function* messagesOf(e: Entity): Generator<Entity> {
  for (const part of partsOf(e)) {
    if (!part.message) continue;
    yield part.message;
    yield* messagesOf(part.message);
  }
}

/** Nothing but blanks and line ends from `start` on (a plain loop: a callback per byte costs seconds on 10 MB). */
function blankFrom(buf: Buffer, start: number): boolean {
  for (let i = start; i < buf.length; i++) {
    const b = buf[i];
    if (b !== 32 && b !== 9 && b !== 10 && b !== 13) return false;
  }
  return true;
}

const SPAMCOP_SUBJECT = /^\s*\[SpamCop \(([0-9A-Fa-f][0-9A-Fa-f:.]{1,59})\) id:/i;

const JMRP_SUBJECT = /^\s*complaint about message from /i;
/** The address a JMRP complaint's subject names (Microsoft's own reading of the source, like ARF's Source-IP). */
const JMRP_SUBJECT_IP = /^\s*complaint about message from \[?([0-9A-Fa-f][0-9A-Fa-f:.]{1,59})\]?\s*$/i;

function parsePlain(root: Entity, bytes: Buffer, network: NetworkPolicy, limits: Bounds): Located {
  const own = originalOf(bytes, limits);
  const ownFacts = own ? factsOf(own, network, limits) : emptyFacts(bytes);
  const source = sourceFromHops(ownFacts.hops, network);
  if (source) {
    const headersOnly = root.children.length === 0 && blankFrom(bytes, root.bodyStart);
    return result(source, ownFacts, { kind: 'message', format: headersOnly ? 'headers' : 'message', arf: null, feedbackType: null, mailFrom: null, reportedDomain: null });
  }

  // A complaint of Microsoft's JMRP says so in its subject; the complained-of message carries X-HmXmrOriginalRecipient.
  let jmrp = JMRP_SUBJECT.test(ownFacts.subject ?? '');
  let jmrpIp = JMRP_SUBJECT_IP.exec(ownFacts.subject ?? '')?.[1] ?? null;
  /** The complained-of message of a JMRP complaint (the one marked X-HmXmrOriginalRecipient). */
  let complained: OriginalFacts | null = null;
  // SpamCop set to attach the spam (no `[ Offending message ]` text): its subject `[SpamCop (ip) id:…]` names the source.
  const spamcopIp = SPAMCOP_SUBJECT.exec(ownFacts.subject ?? '')?.[1] ?? null;
  const spamcop = spamcopIp !== null || /@reports\.spamcop\.net$/i.test(ownFacts.from ?? '');
  let firstForwarded: OriginalFacts | null = null;
  let tried = 0;
  for (const message of messagesOf(root)) {
    if (tried >= MAX_FORWARDED_TRIED) break;
    const original = originalOf(entityBytes(message), limits);
    if (!original) continue;
    tried++;
    const facts = factsOf(original, network, limits);
    firstForwarded ??= facts;
    jmrp ||= JMRP_SUBJECT.test(facts.subject ?? '');
    jmrpIp ??= JMRP_SUBJECT_IP.exec(facts.subject ?? '')?.[1] ?? null;
    if (facts.jmrp) complained ??= facts;
    const forwardedSource = sourceFromHops(facts.hops, network);
    if (forwardedSource && spamcop) return result(forwardedSource, facts, { kind: 'forwarded', format: 'spamcop', arf: null, feedbackType: 'abuse', mailFrom: null, reportedDomain: null });
    if (forwardedSource) {
      const isJmrp = jmrp || facts.jmrp;
      return result(forwardedSource, facts, { kind: 'forwarded', format: isJmrp ? 'jmrp' : 'forwarded', arf: null, feedbackType: isJmrp ? 'abuse' : null, mailFrom: null, reportedDomain: null });
    }
  }
  if (spamcop && firstForwarded) {
    const reported = sourceFromReportedIp(spamcopIp, network);
    if (reported) return result(reported, firstForwarded, { kind: 'forwarded', format: 'spamcop', arf: null, feedbackType: 'abuse', mailFrom: null, reportedDomain: null });
  }
  if (jmrp && complained) {
    // No hop of ours in the complained-of message, but the complaint's subject names our address.
    const reported = sourceFromReportedIp(jmrpIp, network);
    if (reported) return result(reported, complained, { kind: 'forwarded', format: 'jmrp', arf: null, feedbackType: 'abuse', mailFrom: null, reportedDomain: null });
  }
  throw notOurMail(firstForwarded?.hops ?? ownFacts.hops, false);
}

/** The limits with every bound filled in and checked (a bad value is a configuration error: TypeError). */
export function sampleBounds(limits: SampleLimits): Bounds {
  if (!Number.isInteger(limits.maxBytes) || limits.maxBytes < 1) throw new TypeError('limits.maxBytes must be a positive integer');
  if (!Number.isInteger(limits.maxMimeDepth) || limits.maxMimeDepth < 0) throw new TypeError('limits.maxMimeDepth must be a non-negative integer');
  const bounds: Bounds = {
    maxBytes: limits.maxBytes,
    maxMimeDepth: limits.maxMimeDepth,
    maxHeaderBytes: limits.maxHeaderBytes ?? SAMPLE_BOUNDS.maxHeaderBytes,
    maxHeaderFields: limits.maxHeaderFields ?? SAMPLE_BOUNDS.maxHeaderFields,
    maxLineLength: limits.maxLineLength ?? SAMPLE_BOUNDS.maxLineLength,
    maxAddressesPerField: limits.maxAddressesPerField ?? SAMPLE_BOUNDS.maxAddressesPerField,
    maxMimeParts: limits.maxMimeParts ?? SAMPLE_BOUNDS.maxMimeParts,
    maxNestedMessages: limits.maxNestedMessages ?? SAMPLE_BOUNDS.maxNestedMessages,
  };
  for (const key of Object.keys(SAMPLE_BOUNDS) as (keyof typeof SAMPLE_BOUNDS)[]) {
    if (!Number.isInteger(bounds[key]) || bounds[key] < 1) throw new TypeError(`limits.${key} must be a positive integer`);
  }
  return bounds;
}

/**
 * Parses a reported sample. Throws SampleError (TOO_LARGE, BINARY, NOT_A_MESSAGE, TOO_DEEP, TOO_COMPLEX) for
 * input we do not accept and NotOurMailError when it did not leave through our pools; a bad `network`/`limits`
 * configuration throws a plain Error/TypeError.
 *
 * Guards in order: size (TOO_LARGE), binary content (BINARY), the bounds of the top header block (TOO_COMPLEX),
 * its encoding (BINARY) and shape (NOT_A_MESSAGE); then the MIME scan (TOO_DEEP for depth and parts,
 * TOO_COMPLEX for the bounds of every other header block and the attached messages), then the From: addresses.
 */
export async function parseSample(raw: Buffer | Uint8Array | string, network: NetworkPolicy, limits: SampleLimits): Promise<ParsedSample> {
  return locate(raw, network, limits).sample;
}

/**
 * The original message a sample describes, found by the same bounded scan as parseSample (no parser runs over
 * the whole sample): the message itself for a plain one, the attached message of a forward or a report (decoded
 * when it was transfer-encoded). Its sampleHashOf is the summary's sampleHash. Null when the report carries no
 * original, or when the sample is refused (any SampleError or NotOurMailError).
 */
export function locateOriginal(raw: Buffer | Uint8Array | string, network: NetworkPolicy, limits: SampleLimits): Buffer | null {
  try {
    return locate(raw, network, limits).original;
  } catch (err) {
    if (err instanceof SampleError || err instanceof NotOurMailError) return null;
    throw err;
  }
}

/**
 * The bytes with bare-CR line ends (old Mac mail) turned into LF, decided by the first line end (a CRLF or LF
 * message keeps its bytes, so its offsets and DKIM stay as they are). One pass.
 */
function lfIfBareCr(buf: Buffer): Buffer {
  const cr = buf.indexOf(13);
  if (cr === -1 || buf[cr + 1] === 10) return buf;
  const lf = buf.indexOf(10);
  return lf !== -1 && lf < cr ? buf : lfOnly(buf);
}

function locate(raw: Buffer | Uint8Array | string, network: NetworkPolicy, limits: SampleLimits): Located {
  validateNetwork(network);
  const bounds = sampleBounds(limits);
  const input = toBuffer(raw);
  if (input.length > bounds.maxBytes) throw refuse('TOO_LARGE', bounds);
  const bytes = stripLeading(lfIfBareCr(input));
  if (looksBinary(bytes)) throw refuse('BINARY', bounds);
  if (bytes[0] === 123) {
    // '{': a bare X-ARF v3/v4 JSON report (what is not one is refused below as not a message).
    const report = isValidUtf8(bytes) ? readXarfJson(bytes.toString('utf8')) : null;
    if (report) return parseXarfJsonReport(report, bytes, network, bounds);
  }
  const { headerEnd } = boundedHeader(bytes, bounds, 'header lines of this message');
  const headerBytes = bytes.subarray(0, headerEnd);
  if (!isValidUtf8(headerBytes)) throw refuse('BINARY', bounds);
  const headerText = headerBytes.toString('utf8');
  if (!isMessageHeaderBlock(headerText)) throw refuse('NOT_A_MESSAGE', bounds);

  const root = scanEntity(bytes, bytes.toString('latin1'), 0, bytes.length, 0, { maxDepth: bounds.maxMimeDepth, parts: 0, messages: 0, limits: bounds }, 'text/plain');

  if (isFeedbackReport(root)) return parseArf(root, bytes, network, bounds);
  const topFields = parseFieldBlock(headerText);
  if (isXarfMail(topFields)) return parseXarf(root, bytes, network, bounds);
  // A SpamCop report, or a mail with an X-ARF JSON attachment, that names no address of ours may still be our own
  // message (quoting such a text, carrying such a file): then it is read as the message it is.
  const spamcop = spamcopIn(root, bounds);
  const json = spamcop === null && root.children.length > 0 ? xarfJsonIn(root) : null;
  try {
    if (spamcop) return parseSpamcop(spamcop, bytes, network, bounds);
    if (json) return parseXarfJsonReport(json, bytes, network, bounds);
  } catch (err) {
    if (!(err instanceof NotOurMailError)) throw err;
  }
  return parsePlain(root, bytes, network, bounds);
}

// ---------------------------------------------------------------------------------------------------------
// What is kept of a parsed sample

/** A parsed sample as it is shown and stored: the ARF field block left out, the path and every text bounded. */
export interface SampleSummary extends Omit<ParsedSample, 'arf'> {
  /** Received lines left out of `hops` (each kept hop has its own `index`, so gaps show where). */
  omittedHops: number;
}

/** What a summary keeps: the top hops, the hops around the hand-off, and texts cut to these lengths. */
export const SUMMARY_BOUNDS = {
  /** The topmost hops (the recipient's side delivering the message). */
  topHops: 2,
  /** Hops kept above and below the hand-off. */
  hopsAround: 3,
  hopRaw: 1000,
  host: 255,
  text: 998,
  headers: 64 * 1024,
} as const;

const cut = <T extends string | null>(value: T, max: number): T => (value !== null && value.length > max ? (value.slice(0, max) as T) : value);

/**
 * The hops worth keeping: the first few, and the hand-off with a few above and below it. Without a hand-off hop
 * (the source came from the report's Source-IP) the first few as many as that would keep.
 */
export function hopsThatMatter(hops: Hop[], handoffIndex: number, bounds: { topHops: number; hopsAround: number } = SUMMARY_BOUNDS): Hop[] {
  if (handoffIndex < 0) return hops.filter((h) => h.index < bounds.topHops + 2 * bounds.hopsAround + 1);
  return hops.filter((h) => h.index < bounds.topHops || Math.abs(h.index - handoffIndex) <= bounds.hopsAround);
}

/** The summary of a parsed sample: small enough to store with a request and re-read on every view. */
export function summarizeSample(parsed: ParsedSample): SampleSummary {
  const { arf: _arf, ...rest } = parsed;
  const hops = hopsThatMatter(parsed.hops, parsed.handoffIndex).map((h) => ({
    ...h,
    raw: cut(h.raw, SUMMARY_BOUNDS.hopRaw),
    fromHost: cut(h.fromHost, SUMMARY_BOUNDS.host),
    byHost: cut(h.byHost, SUMMARY_BOUNDS.host),
  }));
  return {
    ...rest,
    ourHost: cut(rest.ourHost, SUMMARY_BOUNDS.host),
    hops,
    omittedHops: Math.max(0, parsed.receivedCount - hops.length),
    mailFrom: cut(rest.mailFrom, SUMMARY_BOUNDS.text),
    from: cut(rest.from, SUMMARY_BOUNDS.text),
    fromName: cut(rest.fromName, SUMMARY_BOUNDS.text),
    messageId: cut(rest.messageId, SUMMARY_BOUNDS.text),
    date: cut(rest.date, SUMMARY_BOUNDS.text),
    subject: cut(rest.subject, SUMMARY_BOUNDS.text),
    feedbackType: cut(rest.feedbackType, SUMMARY_BOUNDS.text),
    originalHeaders: cut(rest.originalHeaders, SUMMARY_BOUNDS.headers),
  };
}
