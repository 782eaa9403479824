/**
 * postmaster-portal/client — the reference routing client for Node MTAs.
 *
 *   import { createRoutingClient } from 'postmaster-portal/client';
 *   const routing = createRoutingClient({ baseUrl, token, publicKey, cacheFile: '/var/lib/mta/routing.snapshot' });
 *   routing.on('error', (err) => log.warn(err)).start();
 *   await routing.ready;
 *   if (routing.isBlocked(socket.remoteAddress)) reject('550 5.7.606 Access denied, banned sending IP');
 *   const { pool } = routing.poolFor({ tenant, domain: mailFromDomain, isNdr });
 *
 * It reads the signed snapshot (GET /api/v1/routing/snapshot, verified against `publicKey`; a snapshot that does
 * not verify is refused and the last good one kept), then follows the change feed every `pollMs`
 * (GET /api/v1/routing/feed?after=<version>), applying entries in order to its own copy of the datasets; a 410 or
 * a version gap makes it read the snapshot again. Each new state is built into a new matcher outside any lookup
 * and swapped in with one assignment, so a lookup sees one whole version or the next, never a mix. The last good
 * snapshot is kept in `cacheFile` (written atomically) for a cold start while the server is unreachable.
 * Dependency-free: global fetch and node:crypto.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { Restriction } from '../domain/datasets.js';
import { classify, isLive, type Classification, type MessageFacts } from '../domain/pools.js';
import { signatureFromHeader, verifyAsync } from '../domain/signing.js';
import { readCacheFile, writeCacheFile, type SignedBody } from './cache-file.js';
import { RoutingClientError } from './errors.js';
import { BlocklistMatcher } from './matcher.js';
import { applyEntries, buildView, candidateAssignments, stateFromSnapshot, SnapshotShapeError, type FeedEntry, type RoutingState, type RoutingView } from './routing-state.js';

export { BlocklistMatcher, buildMatcher } from './matcher.js';
export { RoutingClientError, type RoutingClientErrorCode } from './errors.js';
export type { Classification, MessageFacts, PoolName } from '../domain/pools.js';

export interface RoutingClientOptions {
  /** The portal, e.g. https://portal.example.net (no trailing path). */
  baseUrl: string;
  /** An API token (`npx postmaster token create <name>`). */
  token: string;
  /** The snapshot signing key's public half, SPKI PEM (GET /api/v1/routing/public-key, checked out of band). */
  publicKey: string | KeyObject;
  /** Where the last good snapshot is kept for a cold start. Unset: no cache. */
  cacheFile?: string;
  /** Feed polling interval; default 500 ms. Failures back off up to 30 s. */
  pollMs?: number;
  /** Per-request time limit; default 30 s (a million-entry snapshot is large). */
  timeoutMs?: number;
  /** The fetch to use (tests, proxies); default the global fetch. */
  fetch?: typeof fetch;
}

/** Facts about one message; anything left out is taken as unknown / false. `domain` is the sending domain. */
export type PoolQuery = Partial<MessageFacts> & { tenant?: string | null; domain?: string | null };

/** What a swap brought in. */
export interface SwapInfo {
  version: number;
  previousVersion: number | null;
  /** snapshot: read from the server; cache: cold start from the cache file; feed: feed entries; expiry: entries ran out. */
  source: 'snapshot' | 'cache' | 'feed' | 'expiry';
  /** Time spent building the new state and matchers (ms). */
  buildMs: number;
}

type Listener<T> = (value: T) => void;

export interface RoutingClient {
  /** Starts loading and polling (again, after stop()); returns the client. */
  start(): RoutingClient;
  /** Stops polling and cancels the request in flight; lookups keep answering from the last data. */
  stop(): Promise<void>;
  /** True when the address is on the blocked-sender list (longest prefix wins, exclusions win ties; v4, v6, v4-mapped). */
  isBlocked(ip: string): boolean;
  /** True when the address is on the allow list (mail from it skips the blocked-sender list). */
  isAllowlisted(ip: string): boolean;
  /** The outbound pool for a message and why (classify() of src/domain/pools.ts over the assignments held). */
  poolFor(facts: PoolQuery, now?: Date): Classification;
  /** The tenant's restriction in force (blocked from unregistered domains, or on probation), if any. */
  restrictionFor(tenant: string, now?: Date): Restriction | null;
  /** The dataset version lookups answer from; null before the first snapshot. */
  readonly version: number | null;
  /** Resolves once lookups answer from real data: in sync with the server, or from the cache file when the server cannot be reached. */
  readonly ready: Promise<void>;
  on(event: 'swap', listener: Listener<SwapInfo>): RoutingClient;
  on(event: 'error', listener: Listener<RoutingClientError>): RoutingClient;
  off(event: 'swap' | 'error', listener: Listener<never>): RoutingClient;
}

const MAX_BACKOFF_MS = 30_000;
/** Feed pages caught up in one go before swapping (a client far behind still swaps every so often). */
const MAX_PAGES_PER_CYCLE = 50;
/** Expiry timers cannot be longer than this (setTimeout's limit). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const NO_FACTS: MessageFacts = {
  tenant: null,
  senderDomain: null,
  isNdr: false,
  spamVerdict: false,
  overSendingLimits: false,
  domainHasA: null,
  domainHasMx: null,
  forwarded: false,
  senderInAcceptedDomain: false,
  spfPass: false,
  dkimPassForSender: false,
};

/** Creates a routing client; nothing happens until start(). */
export function createRoutingClient(options: RoutingClientOptions): RoutingClient {
  return new Client(options);
}

class Client implements RoutingClient {
  private view: RoutingView | null = null;
  private readonly emptyMatcher = BlocklistMatcher.EMPTY;
  private readonly listeners = { swap: new Set<Listener<SwapInfo>>(), error: new Set<Listener<RoutingClientError>>() };
  private readonly baseUrl: string;
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private running = false;
  private loop: Promise<void> | null = null;
  private abort: AbortController | null = null;
  private wake: (() => void) | null = null;
  private expiryTimer: NodeJS.Timeout | null = null;
  private needSnapshot = true;
  private cacheTried = false;
  private readonly publicKey: KeyObject;
  private markReady!: () => void;
  readonly ready: Promise<void>;

  constructor(private readonly options: RoutingClientOptions) {
    if (!options.baseUrl || !options.token || !options.publicKey) throw new TypeError('createRoutingClient needs baseUrl, token and publicKey.');
    this.publicKey = publicKeyOf(options.publicKey);
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.pollMs = options.pollMs ?? 500;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? globalThis.fetch;
    this.ready = new Promise((resolve) => (this.markReady = resolve));
  }

  // ---- lookups: synchronous, from the view in place (isBlocked allocates nothing) ----

  isBlocked(ip: string): boolean {
    return (this.view?.blocked ?? this.emptyMatcher).isBlocked(ip);
  }

  isAllowlisted(ip: string): boolean {
    return (this.view?.allowed ?? this.emptyMatcher).isBlocked(ip);
  }

  poolFor(facts: PoolQuery, now = new Date()): Classification {
    const { domain, ...rest } = facts;
    const query: MessageFacts = { ...NO_FACTS, ...rest, tenant: facts.tenant ?? null, senderDomain: facts.senderDomain ?? domain ?? null };
    const candidates = this.view ? candidateAssignments(this.view, query.tenant, query.senderDomain) : [];
    return classify(query, candidates, now);
  }

  restrictionFor(tenant: string, now = new Date()): Restriction | null {
    const r = this.view?.restrictionsByTenant.get(tenant);
    return r && isLive(r, now) ? r : null;
  }

  get version(): number | null {
    return this.view?.state.version ?? null;
  }

  // ---- events ----

  on(event: 'swap', listener: Listener<SwapInfo>): RoutingClient;
  on(event: 'error', listener: Listener<RoutingClientError>): RoutingClient;
  on(event: 'swap' | 'error', listener: Listener<never>): RoutingClient {
    (this.listeners[event] as Set<Listener<never>>).add(listener);
    return this;
  }

  off(event: 'swap' | 'error', listener: Listener<never>): RoutingClient {
    (this.listeners[event] as Set<Listener<never>>).delete(listener);
    return this;
  }

  /** Listeners never break the client; with no 'error' listener, errors are dropped (the client keeps going). */
  private emit<E extends 'swap' | 'error'>(event: E, value: E extends 'swap' ? SwapInfo : RoutingClientError): void {
    for (const l of this.listeners[event] as Set<Listener<typeof value>>) {
      try {
        l(value);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  // ---- lifecycle ----

  start(): RoutingClient {
    if (this.running) return this;
    this.running = true;
    if (this.view) this.scheduleExpiry(this.view);
    this.loop = this.run();
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    this.wake?.();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    await this.loop;
    this.loop = null;
  }

  private async run(): Promise<void> {
    if (!this.cacheTried) {
      this.cacheTried = true;
      await this.coldStartFromCache();
    }
    let failures = 0;
    while (this.running) {
      try {
        if (this.needSnapshot || !this.view) await this.loadSnapshot();
        else await this.followFeed();
        failures = 0;
        if (this.view) this.markReady();
      } catch (err) {
        if (!this.running) break;
        failures++;
        this.emit('error', toClientError(err));
        // Serving from the cache file counts as ready once the server has been tried and is unreachable.
        if (this.view) this.markReady();
      }
      if (!this.running) break;
      await this.sleep(failures === 0 ? this.pollMs : Math.min(MAX_BACKOFF_MS, this.pollMs * 2 ** Math.min(failures, 16)));
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  // ---- steps ----

  private async coldStartFromCache(): Promise<void> {
    const file = this.options.cacheFile;
    if (!file) return;
    try {
      const cached = await readCacheFile(file, this.publicKey);
      if (cached) {
        await this.adopt(cached, 'cache');
        this.needSnapshot = false; // catch up from the cached version through the feed (410: read the snapshot)
      }
    } catch (err) {
      this.emit('error', err instanceof RoutingClientError ? err : new RoutingClientError('CACHE_INVALID', `The snapshot cache ${file} cannot be used.`, { cause: err }));
    }
  }

  private async loadSnapshot(): Promise<void> {
    const headers: Record<string, string> = {};
    if (this.view) headers['if-none-match'] = `"v${this.view.state.version}"`;
    const res = await this.request('/api/v1/routing/snapshot', headers);
    if (res.status === 304) {
      await res.body?.cancel();
      this.needSnapshot = false;
      return;
    }
    if (res.status !== 200) throw await httpError(res, 'snapshot');
    const body = Buffer.from(await res.arrayBuffer());
    const signature = signatureFromHeader(res.headers.get('x-snapshot-signature'));
    if (!signature) throw new RoutingClientError('SNAPSHOT_SIGNATURE_INVALID', 'The snapshot came without an X-Snapshot-Signature: ed25519 header; refused, keeping the last good one.');
    if (!(await verifyAsync(body, signature, this.publicKey))) {
      throw new RoutingClientError('SNAPSHOT_SIGNATURE_INVALID', 'The snapshot signature does not verify with the configured public key; refused, keeping the last good one.');
    }
    if (!this.running) return;
    await this.adopt({ body, signature }, 'snapshot');
    this.needSnapshot = false;
    if (this.options.cacheFile) {
      try {
        await writeCacheFile(this.options.cacheFile, { body, signature });
      } catch (err) {
        this.emit('error', new RoutingClientError('CACHE_WRITE_FAILED', `Cannot write the snapshot cache ${this.options.cacheFile}.`, { cause: err }));
      }
    }
  }

  /** Parses a verified snapshot and swaps it in (reading and building yield to the event loop in between). */
  private async adopt(signed: SignedBody, source: 'snapshot' | 'cache'): Promise<void> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(signed.body.toString('utf8'));
    } catch (err) {
      throw new RoutingClientError(source === 'cache' ? 'CACHE_INVALID' : 'SNAPSHOT_INVALID', 'The snapshot is not valid JSON.', { cause: err });
    }
    await yieldToEventLoop();
    const t0 = performance.now();
    let state: RoutingState;
    try {
      state = stateFromSnapshot(parsed);
    } catch (err) {
      if (err instanceof SnapshotShapeError) throw new RoutingClientError(source === 'cache' ? 'CACHE_INVALID' : 'SNAPSHOT_INVALID', `The snapshot cannot be read: ${err.message}.`);
      throw err;
    }
    parsed = undefined; // the datasets now live in the compact state; let the JSON go before building
    const tState = performance.now() - t0;
    await yieldToEventLoop();
    const t1 = performance.now();
    const view = buildView(state, Date.now());
    this.swap(view, source, tState + performance.now() - t1);
  }

  private async followFeed(): Promise<void> {
    const view = this.view!;
    let state = view.state;
    let t = 0;
    for (let page = 0; page < MAX_PAGES_PER_CYCLE; page++) {
      const res = await this.request(`/api/v1/routing/feed?after=${state.version}`);
      if (res.status === 410) {
        await res.body?.cancel();
        return this.reloadSnapshot();
      }
      if (res.status !== 200) throw await httpError(res, 'feed');
      const feed = readFeedPage(await res.json().catch(() => null));
      if (!this.running) return;
      const t0 = performance.now();
      const next = applyEntries(state, feed.entries);
      t += performance.now() - t0;
      if (next === null) return this.reloadSnapshot(); // a version gap
      state = next;
      // Behind us (the server's data was reset), or ahead with nothing to get there: read the snapshot.
      if (feed.version < state.version) return this.reloadSnapshot();
      if (!feed.hasMore) {
        if (feed.version > state.version && feed.entries.length === 0) return this.reloadSnapshot();
        break;
      }
    }
    if (state === view.state) return;
    await yieldToEventLoop();
    const current = this.view;
    if (current?.state !== view.state) return; // replaced meanwhile (stop, or a snapshot)
    const t1 = performance.now();
    this.swap(buildView(state, Date.now(), current), 'feed', t + performance.now() - t1);
  }

  private async reloadSnapshot(): Promise<void> {
    this.needSnapshot = true;
    await this.loadSnapshot();
  }

  /** The one assignment that moves lookups to the new data. */
  private swap(view: RoutingView, source: SwapInfo['source'], buildMs: number): void {
    const previousVersion = this.view?.state.version ?? null;
    this.view = view;
    this.scheduleExpiry(view);
    this.emit('swap', { version: view.state.version, previousVersion, source, buildMs: Math.round(buildMs * 100) / 100 });
  }

  /** Rebuilds the matchers when the earliest listing, exclusion or allow entry in force runs out. */
  private scheduleExpiry(view: RoutingView): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    if (!Number.isFinite(view.nextExpiry)) return;
    const delay = Math.max(0, Math.min(MAX_TIMER_MS, view.nextExpiry - Date.now() + 1));
    this.expiryTimer = setTimeout(() => {
      if (this.view !== view) return;
      const t0 = performance.now();
      this.swap(buildView(view.state, Date.now()), 'expiry', performance.now() - t0);
    }, delay);
    this.expiryTimer.unref();
  }

  private async request(path: string, headers: Record<string, string> = {}): Promise<Response> {
    this.abort = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(this.timeoutMs)]);
    try {
      return await this.fetchImpl(`${this.baseUrl}${path}`, { headers: { accept: 'application/json', authorization: `Bearer ${this.options.token}`, ...headers }, signal });
    } catch (err) {
      throw new RoutingClientError('UNREACHABLE', `Cannot reach ${this.baseUrl}${path}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** The Ed25519 public key to verify with; a TypeError at creation for anything else (rather than refusing every snapshot). */
function publicKeyOf(key: string | KeyObject): KeyObject {
  let k: KeyObject;
  try {
    k = typeof key === 'string' ? createPublicKey(key) : key.type === 'private' ? createPublicKey(key) : key;
  } catch {
    throw new TypeError('publicKey is not a readable public key: give the SPKI PEM served at /api/v1/routing/public-key.');
  }
  if (k.asymmetricKeyType !== 'ed25519') throw new TypeError(`publicKey must be an Ed25519 key, not ${k.asymmetricKeyType ?? 'unknown'}.`);
  return k;
}

function readFeedPage(body: unknown): { version: number; entries: FeedEntry[]; hasMore: boolean } {
  const page = body as { version?: unknown; entries?: unknown; hasMore?: unknown } | null;
  const ok =
    page !== null &&
    typeof page === 'object' &&
    typeof page.version === 'number' &&
    Array.isArray(page.entries) &&
    page.entries.every((e: { version?: unknown; changes?: unknown }) => typeof e?.version === 'number' && Array.isArray(e.changes));
  if (!ok) throw new RoutingClientError('FEED_INVALID', 'The feed answered something that is not a feed page.');
  return { version: page.version as number, entries: page.entries as FeedEntry[], hasMore: page.hasMore === true };
}

async function httpError(res: Response, what: string): Promise<RoutingClientError> {
  let detail = '';
  try {
    const body = (await res.json()) as { error?: string; code?: string };
    detail = body.code ? ` (${body.code}${body.error ? `: ${body.error}` : ''})` : '';
  } catch {
    // not JSON
  }
  const hint = res.status === 401 ? ' Check the API token.' : '';
  return new RoutingClientError('HTTP_ERROR', `The ${what} request answered ${res.status}${detail}.${hint}`, { status: res.status });
}

function toClientError(err: unknown): RoutingClientError {
  if (err instanceof RoutingClientError) return err;
  return new RoutingClientError('UNEXPECTED', `Unexpected failure: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
