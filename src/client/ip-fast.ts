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

/** The value of a hex digit, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/** A strict IPv6 address in s[start, end) into V6; false when it is not one. */
export function parseV6(s: string, start: number, end: number): boolean {
  if (end - start < 2) return false;
  let n = 0; // groups read
  let gap = -1; // group index where "::" stands
  let i = start;
  if (s.charCodeAt(i) === 58) {
    if (s.charCodeAt(i + 1) !== 58) return false;
    gap = 0;
    i += 2;
    if (i === end) {
      V6[0] = V6[1] = V6[2] = V6[3] = 0;
      return true;
    }
  }
  for (;;) {
    let value = 0;
    let digits = 0;
    let j = i;
    let c = 0;
    while (j < end) {
      c = s.charCodeAt(j);
      const h = hexValue(c);
      if (h < 0) break;
      if (++digits > 4) return false;
      value = value * 16 + h;
      j++;
    }
    if (j < end && c === 46) {
      // A dotted IPv4 tail: the last two groups.
      if (n > 6) return false;
      const v4 = parseV4(s, i, end);
      if (v4 < 0) return false;
      GROUPS[n++] = Math.floor(v4 / 65536);
      GROUPS[n++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || n === 8) return false;
    GROUPS[n++] = value;
    if (j === end) break;
    if (c !== 58) return false;
    j++;
    if (j === end) return false; // a single trailing ':'
    if (s.charCodeAt(j) === 58) {
      if (gap >= 0) return false;
      gap = n;
      j++;
      if (j === end) break;
    }
    i = j;
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
  const end = text.length;
  let slash = text.indexOf('/');
  if (slash < 0) slash = end;
  let prefix = -1;
  if (slash < end) {
    const digits = end - slash - 1;
    if (digits < 1 || digits > 3 || (digits > 1 && text.charCodeAt(slash + 1) === 48)) return false;
    prefix = 0;
    for (let i = slash + 1; i < end; i++) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return false;
      prefix = prefix * 10 + d;
    }
  }
  if (text.indexOf(':') < 0) {
    const v = parseV4(text, 0, slash);
    if (v < 0 || prefix > 32) return false;
    cidrFamily = 4;
    cidrPrefix = prefix < 0 ? 32 : prefix;
    CIDR_WORDS[0] = cidrPrefix === 0 ? 0 : v - (v % 2 ** (32 - cidrPrefix));
    CIDR_WORDS[1] = CIDR_WORDS[2] = CIDR_WORDS[3] = 0;
    return true;
  }
  if (!parseV6(text, 0, slash) || prefix > 128) return false;
  const p = prefix < 0 ? 128 : prefix;
  if (V6[0] === 0 && V6[1] === 0 && V6[2] === 0xffff) {
    if (p < 96) return false; // parseNetwork refuses a v4-mapped network wider than /96
    cidrFamily = 4;
    cidrPrefix = p - 96;
    const v = V6[3]!;
    CIDR_WORDS[0] = cidrPrefix === 0 ? 0 : v - (v % 2 ** (32 - cidrPrefix));
    CIDR_WORDS[1] = CIDR_WORDS[2] = CIDR_WORDS[3] = 0;
    return true;
  }
  cidrFamily = 6;
  cidrPrefix = p;
  for (let w = 0; w < 4; w++) {
    const bits = p - w * 32; // network bits inside this word
    const word = V6[w]!;
    CIDR_WORDS[w] = bits >= 32 ? word : bits <= 0 ? 0 : word - (word % 2 ** (32 - bits));
  }
  return true;
}
