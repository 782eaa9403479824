import ipaddr from 'ipaddr.js';

/** IP protocol version. */
export type IpVersion = 4 | 6;

/** A single parsed address; `text` is canonical (dotted quad, or RFC 5952 lower case). */
export interface Address {
  version: IpVersion;
  value: bigint;
  text: string;
}

/** A CIDR network with host bits cleared; `text` is the bare address at full length, else "base/prefix". */
export interface Network {
  version: IpVersion;
  base: bigint;
  prefix: number;
  text: string;
}

/** A user-facing parse error with a machine-readable reason and an optional corrected value. */
export class IpInputError extends Error {
  constructor(
    public readonly reason: 'invalid' | 'zone' | 'host-bits' | 'prefix',
    message: string,
    public readonly suggestion?: string,
  ) {
    super(message);
    this.name = 'IpInputError';
  }
}

const MAX_INPUT_LENGTH = 100;
const EXAMPLES = 'Write it like 198.51.100.7 or 2001:db8::7.';

const bitsOf = (version: IpVersion): number => (version === 4 ? 32 : 128);

function mask(version: IpVersion, prefix: number): bigint {
  const bits = BigInt(bitsOf(version));
  const all = (1n << bits) - 1n;
  return (all >> BigInt(prefix)) ^ all;
}

/** A value as ipaddr.js's address object, for its text and its range name. */
function toIpaddr(version: IpVersion, value: bigint): ipaddr.IPv4 | ipaddr.IPv6 {
  if (version === 4) return new ipaddr.IPv4([24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 0xffn)));
  return new ipaddr.IPv6(Array.from({ length: 8 }, (_, i) => Number((value >> (16n * BigInt(7 - i))) & 0xffffn)));
}

function formatValue(version: IpVersion, value: bigint): string {
  const addr = toIpaddr(version, value);
  return addr instanceof ipaddr.IPv6 ? addr.toRFC5952String() : addr.toString();
}

function makeAddress(version: IpVersion, value: bigint): Address {
  return { version, value, text: formatValue(version, value) };
}

function makeNetwork(version: IpVersion, base: bigint, prefix: number): Network {
  const addr = formatValue(version, base);
  return { version, base, prefix, text: prefix === bitsOf(version) ? addr : `${addr}/${prefix}` };
}

function invalid(input: string, detail = ''): IpInputError {
  return new IpInputError('invalid', `"${input}" is not a valid IP address.${detail} ${EXAMPLES}`);
}

/** Strict four-part decimal IPv4 (no octal, hex, short forms or leading zeros) to its 32-bit value. */
function parseV4(text: string, input: string): bigint {
  if (!ipaddr.IPv4.isValidFourPartDecimal(text)) {
    const leadingZero = /(^|\.)0\d/.test(text) && /^[\d.]+$/.test(text);
    throw invalid(input, leadingZero ? ' IPv4 numbers must not have leading zeros.' : '');
  }
  return ipaddr.IPv4.parse(text).octets.reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
}

/** Strict IPv6 to its 128-bit value; an embedded dotted IPv4 tail is validated like plain IPv4. */
function parseV6(text: string, input: string): bigint {
  let hex = text;
  const tail = /^(.*:)([^:]*\.[^:]*)$/.exec(text);
  if (tail) {
    // Convert the dotted tail ourselves: ipaddr would misread "::a.b.c.d" as v4-mapped.
    const v4 = parseV4(tail[2] ?? '', input);
    hex = `${tail[1] ?? ''}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const groupsOk = hex.split(':').every((group) => /^[0-9a-f]{0,4}$/i.test(group));
  if (!groupsOk || !ipaddr.IPv6.isValid(hex)) throw invalid(input);
  return ipaddr.IPv6.parse(hex).parts.reduce((acc, part) => (acc << 16n) | BigInt(part), 0n);
}

/** Parses an address and reports whether it was written as a v4-mapped IPv6 address. */
function parseDetailed(raw: string): { address: Address; mapped: boolean } {
  const input = raw.trim();
  if (input === '') throw new IpInputError('invalid', `Please enter an IP address. ${EXAMPLES}`);
  if (input.length > MAX_INPUT_LENGTH) throw invalid(input.slice(0, 40) + '…');
  if (input.includes('%')) {
    throw new IpInputError('zone', `"${input}" has a zone id (the part after %); zone ids are local to one machine, so enter the address without it.`);
  }
  if (input.startsWith('[') || input.endsWith(']')) throw invalid(input, ' Leave out the square brackets.');
  if (!input.includes(':')) return { address: makeAddress(4, parseV4(input, input)), mapped: false };
  const value = parseV6(input, input);
  const isV4Mapped = value >> 32n === 0xffffn; // ::ffff:0:0/96
  if (isV4Mapped) return { address: makeAddress(4, value & 0xffffffffn), mapped: true };
  return { address: makeAddress(6, value), mapped: false };
}

/** Parses one IPv4 or IPv6 address strictly; v4-mapped IPv6 becomes the IPv4 address. */
export function parseAddress(input: string): Address {
  return parseDetailed(input).address;
}

/** Parses "addr" or "addr/len" into a network; host bits must be clear. */
export function parseNetwork(raw: string): Network {
  const input = raw.trim();
  const slash = input.indexOf('/');
  const addrText = slash === -1 ? input : input.slice(0, slash);
  const { address, mapped } = parseDetailed(addrText);
  let prefix = bitsOf(address.version);
  if (slash !== -1) {
    const lenText = input.slice(slash + 1);
    const maxLen = mapped ? 128 : prefix;
    const minLen = mapped ? 96 : 0;
    if (!/^(0|[1-9]\d{0,2})$/.test(lenText) || Number(lenText) < minLen || Number(lenText) > maxLen) {
      const why = mapped ? ' (an IPv4-mapped IPv6 network needs at least /96)' : '';
      throw new IpInputError('prefix', `"${lenText}" is not a valid prefix length here${why}; use a whole number from ${minLen} to ${maxLen}.`);
    }
    prefix = Number(lenText) - (mapped ? 96 : 0);
  }
  const net = networkOf(address, prefix);
  if (net.base !== address.value) {
    throw new IpInputError('host-bits', `"${input}" has host bits set; the network it belongs to is ${net.text}.`, net.text);
  }
  return net;
}

/** The network of the given prefix length that contains the address. */
export function networkOf(addr: Address, prefix: number): Network {
  const bits = bitsOf(addr.version);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new IpInputError('prefix', `Prefix length ${prefix} is out of range; use 0 to ${bits}.`);
  }
  return makeNetwork(addr.version, addr.value & mask(addr.version, prefix), prefix);
}

/** True when the address is in the network (same version, masked equal). */
export function contains(net: Network, addr: Address): boolean {
  return net.version === addr.version && (addr.value & mask(net.version, net.prefix)) === net.base;
}

/** The first (network) or last address of a network. */
export function addressOf(net: Network, which: 'first' | 'last'): Address {
  const hostBits = BigInt(bitsOf(net.version) - net.prefix);
  return makeAddress(net.version, which === 'first' ? net.base : net.base + (1n << hostBits) - 1n);
}

/** True when network a strictly contains network b. */
export function isWider(a: Network, b: Network): boolean {
  return a.prefix < b.prefix && contains(a, makeAddress(b.version, b.base));
}

/** Canonical texts of every network containing the address, most specific first, down to /0. */
export function candidateKeys(addr: Address): string[] {
  const keys: string[] = [];
  for (let prefix = bitsOf(addr.version); prefix >= 0; prefix--) keys.push(networkOf(addr, prefix).text);
  return keys;
}

const DOCUMENTATION: Network[] = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32'].map(parseNetwork);
const GLOBAL_UNICAST_V6 = parseNetwork('2000::/3');

const RANGE_NAMES: Record<string, string> = {
  private: 'private',
  loopback: 'loopback',
  linkLocal: 'link-local',
  multicast: 'multicast',
  unspecified: 'unspecified',
  carrierGradeNat: 'shared',
  uniqueLocal: 'unique-local',
  broadcast: 'broadcast',
};

/** Null when a public user may name the address (global unicast or documentation), else a short stable name. */
export function specialPurpose(addr: Address): string | null {
  if (DOCUMENTATION.some((net) => contains(net, addr))) return null;
  const range = toIpaddr(addr.version, addr.value).range();
  // ipaddr calls all of 0.0.0.0/8 'unspecified'; only 0.0.0.0 itself is.
  if (addr.version === 4 && range === 'unspecified' && addr.value !== 0n) return 'reserved';
  if (range === 'unicast') {
    // Only 2000::/3 is allocated for global unicast; the rest of IPv6 is not reachable mail space.
    return addr.version === 6 && !contains(GLOBAL_UNICAST_V6, addr) ? 'reserved' : null;
  }
  return RANGE_NAMES[range] ?? 'reserved';
}

const DESCRIPTIONS: Record<string, string> = {
  private: 'This is a private address (RFC 1918); mail from it never reaches us directly, so it cannot be on our list.',
  loopback: 'This is a loopback address that always means "this machine", so it cannot be on our list.',
  'link-local': 'This is a link-local address that only works on one local network segment, so it cannot be on our list.',
  multicast: 'This is a multicast address, which never sends mail, so it cannot be on our list.',
  unspecified: 'This is the unspecified address, which stands for "no address", so it cannot be on our list.',
  shared: 'This is a shared carrier-grade NAT address (RFC 6598) used inside provider networks, so it cannot be on our list; please give us the public address your mail leaves from.',
  'unique-local': 'This is a unique local IPv6 address (RFC 4193) used only inside private networks, so it cannot be on our list.',
  broadcast: 'This is the broadcast address, which never sends mail, so it cannot be on our list.',
  reserved: 'This address is reserved for special use and is not routed on the public internet, so it cannot be on our list.',
};

/** One readable English sentence explaining a specialPurpose() name. */
export function describeSpecialPurpose(name: string): string {
  return DESCRIPTIONS[name] ?? 'This address is not a public internet address, so it cannot be on our list.';
}
