import { randomFillSync } from 'node:crypto';

/**
 * Random ids from a pool of cryptographically strong bytes, refilled 4 KiB at a time (as Node's randomUUID
 * does): each `crypto.randomBytes` call costs a trip into OpenSSL, which was 4 % of the web role's CPU on the
 * delist form. Each byte is handed out once.
 */
const pool = Buffer.allocUnsafe(4096);
let offset = pool.length;

export function randomId(bytes: number): string {
  if (bytes > pool.length) throw new RangeError('randomId: at most 4096 bytes');
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return id;
}
