/**
 * The last good snapshot on disk, for a cold start while the server is unreachable: one line
 * "postmaster-snapshot ed25519 <base64 signature>\n", then the exact snapshot body the signature covers. Written
 * to a temporary file in the same directory, flushed, then renamed over the old one, so a crash leaves either
 * the old or the new file, never half of one. Read back only if the signature still verifies.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { verifyAsync } from '../domain/signing.js';
import { RoutingClientError } from './errors.js';

const MAGIC = 'postmaster-snapshot ed25519 ';

/** A signed snapshot body (the bytes the server sent) with its base64 signature. */
export interface SignedBody {
  body: Buffer;
  signature: string;
}

export async function writeCacheFile(file: string, snapshot: SignedBody): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${MAGIC}${snapshot.signature}\n`);
    await handle.writeFile(snapshot.body);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** The cached snapshot if the file exists and verifies; null when there is no file; throws CACHE_INVALID otherwise. */
export async function readCacheFile(file: string, publicKey: Parameters<typeof verifyAsync>[2]): Promise<SignedBody | null> {
  let raw: Buffer;
  try {
    raw = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new RoutingClientError('CACHE_INVALID', `Cannot read the snapshot cache ${file}.`, { cause: err });
  }
  const newline = raw.indexOf(10);
  const header = newline < 0 ? '' : raw.subarray(0, newline).toString('latin1');
  if (!header.startsWith(MAGIC)) throw new RoutingClientError('CACHE_INVALID', `${file} is not a snapshot cache file.`);
  const signature = header.slice(MAGIC.length).trim();
  const body = raw.subarray(newline + 1);
  if (!(await verifyAsync(body, signature, publicKey))) {
    throw new RoutingClientError('CACHE_INVALID', `The snapshot cached in ${file} does not match its signature; not using it.`);
  }
  return { body, signature };
}
