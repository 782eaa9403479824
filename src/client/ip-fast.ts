/**
 * Allocation-free IP parsers for the client's hot path. They accept exactly what src/domain/ip.ts `parseAddress`
 * accepts (strict dotted quads without leading zeros; IPv6 with at most one "::", 1–4 hex digits a group, an
 * optional dotted IPv4 tail) and refuse everything else; the unit tests hold them to that.
 *
 * Results go to module-level scratch words instead of new objects: `V6[0..3]` after parseV6, and for CIDRs
 * `CIDR_WORDS` / `cidrFamily` / `cidrPrefix`. Callers read them straight after the call (single-threaded).
 */

/** The 128-bit address of the last successful parseV6, as four big-endian 32-bit words. */
export const V6 = new Uint32Array(4);
const GROUPS = new Int32Array(8);

/**
 * A strict dotted quad in s[start, end) to its 32-bit value (0 … 2^32-1), or -1.
 * Leading zeros ("01"), empty parts, signs, spaces and anything but digits and three dots are refused.
 */
export function parseV4(s: string, start: number, end: number): number {
  let acc = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      acc = acc * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9) return -1;
      if (digits !== 0 && part === 0) return -1; // a leading zero
      part = part * 10 + d;
      if (part > 255) return -1;
      digits++;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return acc * 256 + part;
}

/** Hex digit values by character code (-1: not a hex digit). */
const HEX = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) HEX[65 + i] = HEX[97 + i] = 10 + i;

/** A strict IPv6 address in s[start, end) into V6; false when it is not one. One pass, no allocation. */
export function parseV6(s: string, start: number, end: number): boolean {
  if (end - start < 2) return false;
  let n = 0; // groups read
  let gap = -1; // group index where "::" stands
  let value = 0;
  let digits = 0; // hex digits of the current group; -1 once a dotted tail was read
  let i = start;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
  }
  let groupStart = i;
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    const h = c < 128 ? HEX[c]! : -1;
    if (h >= 0) {
      if (++digits > 4) return false;
      value = (value << 4) | h;
    } else if (c === 58) {
      if (digits === 0) {
        // The second colon of "::" (a lone colon always follows a group).
        if (gap >= 0) return false;
        gap = n;
      } else {
        if (n === 8) return false;
        GROUPS[n++] = value;
        value = 0;
        digits = 0;
      }
      groupStart = i + 1;
    } else if (c === 46) {
      // A dotted IPv4 tail: the last two groups.
      if (n > 6) return false;
      const v4 = parseV4(s, groupStart, end);
      if (v4 < 0) return false;
      GROUPS[n++] = (v4 / 65536) | 0;
      GROUPS[n++] = v4 & 0xffff;
      digits = -1;
      break;
    } else {
      return false;
    }
  }
  if (digits > 0) {
    if (n === 8) return false;
    GROUPS[n++] = value;
  } else if (digits === 0 && !(gap === n && groupStart === end)) {
    return false; // a single trailing ':'
  }
  if (gap < 0) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false;
    const move = n - gap;
    for (let k = 1; k <= move; k++) GROUPS[8 - k] = GROUPS[n - k]!;
    for (let k = gap; k < 8 - move; k++) GROUPS[k] = 0;
  }
  V6[0] = GROUPS[0]! * 65536 + GROUPS[1]!;
  V6[1] = GROUPS[2]! * 65536 + GROUPS[3]!;
  V6[2] = GROUPS[4]! * 65536 + GROUPS[5]!;
  V6[3] = GROUPS[6]! * 65536 + GROUPS[7]!;
  return true;
}

/** s starts with "::ffff:" (lower case, as Node reports v4-mapped peers). */
export function hasMappedPrefix(s: string): boolean {
  return (
    s.length > 7 &&
    s.charCodeAt(0) === 58 &&
    s.charCodeAt(1) === 58 &&
    s.charCodeAt(2) === 102 &&
    s.charCodeAt(3) === 102 &&
    s.charCodeAt(4) === 102 &&
    s.charCodeAt(5) === 102 &&
    s.charCodeAt(6) === 58
  );
}

/** True when the code unit is white space String.prototype.trim would remove (only checked off the fast path). */
export function isTrimmable(c: number): boolean {
  return c <= 32 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

/** Family of the last successful parseCidr (4 or 6). */
export let cidrFamily: 4 | 6 = 4;
/** Prefix length of the last successful parseCidr (v4-mapped networks are given as IPv4 with prefix - 96). */
export let cidrPrefix = 0;
/** Network base of the last successful parseCidr, host bits cleared; IPv4 uses word 0 only. */
export const CIDR_WORDS = new Uint32Array(4);

/**
 * "addr" or "addr/len" (the canonical keys of the routing datasets) into cidrFamily / cidrPrefix / CIDR_WORDS;
 * false when unreadable. Host bits are cleared rather than refused: the publisher never writes them, and the
 * covering network is the only sensible reading if one ever slips through. ::ffff:a.b.c.d/96+ becomes IPv4.
 */
export function parseCidr(text: string): boolean {
  // IPv4 in one pass (most keys); anything else takes the general path below.
  const end = text.length;
  let acc = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return parseCidrGeneral(text);
      acc = acc * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c === 47) {
      break;
    } else {
      const d = c - 48;
      if (d < 0 || d > 9 || (digits !== 0 && part === 0)) return parseCidrGeneral(text);
      part = part * 10 + d;
      if (part > 255) return parseCidrGeneral(text);
      digits++;
    }
  }
  if (dots !== 3 || digits === 0) return parseCidrGeneral(text);
  const prefix = i === end ? 32 : prefixAt(text, i + 1);
  if (prefix < 0 || prefix > 32) return false;
  setV4(acc * 256 + part, prefix);
  return true;
}

/** The prefix length written from position `from` to the end ("0" or digits without a leading zero), or -1. */
function prefixAt(text: string, from: number): number {
  const n = text.length - from;
  if (n < 1 || n > 3 || (n > 1 && text.charCodeAt(from) === 48)) return -1;
  let prefix = 0;
  for (let i = from; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    prefix = prefix * 10 + d;
  }
  return prefix;
}

/** The network bits of a 32-bit word: its top `bits` bits (0 … 32). */
const keepTop = (word: number, bits: number): number => (bits <= 0 ? 0 : bits >= 32 ? word : (word & (-1 << (32 - bits))) >>> 0);

function setV4(value: number, prefix: number): void {
  cidrFamily = 4;
  cidrPrefix = prefix;
  CIDR_WORDS[0] = keepTop(value, prefix);
  CIDR_WORDS[1] = CIDR_WORDS[2] = CIDR_WORDS[3] = 0;
}

function parseCidrGeneral(text: string): boolean {
  const end = text.length;
  // A prefix has at most three digits, so a slash can only be among the last four characters (one anywhere else
  // reaches the address parsers below, which refuse it).
  let slash = end;
  for (let i = Math.max(0, end - 4); i < end; i++) if (text.charCodeAt(i) === 47) slash = i;
  const prefix = slash < end ? prefixAt(text, slash + 1) : -2;
  if (prefix === -1) return false;
  if (text.indexOf(':') < 0) {
    const v = parseV4(text, 0, slash);
    if (v < 0 || prefix > 32) return false;
    setV4(v, prefix < 0 ? 32 : prefix);
    return true;
  }
  if (!parseV6(text, 0, slash) || prefix > 128) return false;
  const p = prefix < 0 ? 128 : prefix;
  if (V6[0] === 0 && V6[1] === 0 && V6[2] === 0xffff) {
    if (p < 96) return false; // parseNetwork refuses a v4-mapped network wider than /96
    setV4(V6[3]!, p - 96);
    return true;
  }
  cidrFamily = 6;
  cidrPrefix = p;
  for (let w = 0; w < 4; w++) CIDR_WORDS[w] = keepTop(V6[w]!, p - w * 32);
  return true;
}
