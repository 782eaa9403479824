/** Why the routing client could not take a step; it keeps answering from the last good data meanwhile. */
export type RoutingClientErrorCode =
  /** The snapshot's X-Snapshot-Signature is missing or does not verify: refused, the last good snapshot stays. */
  | 'SNAPSHOT_SIGNATURE_INVALID'
  /** The snapshot verified but is not a snapshot (unreadable JSON, missing version or datasets). */
  | 'SNAPSHOT_INVALID'
  /** The cache file is unreadable, or its signature does not verify: not used. */
  | 'CACHE_INVALID'
  /** The last good snapshot could not be written to the cache file. */
  | 'CACHE_WRITE_FAILED'
  /** The server could not be reached, or did not answer in time. */
  | 'UNREACHABLE'
  /** The server answered with an unexpected status (401: check the token). */
  | 'HTTP_ERROR'
  /** A feed page could not be read. */
  | 'FEED_INVALID'
  /** Anything else (a bug): reported, and the client keeps going. */
  | 'UNEXPECTED';

export class RoutingClientError extends Error {
  constructor(
    readonly code: RoutingClientErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RoutingClientError';
    this.status = options?.status;
  }
  readonly status: number | undefined;
}
