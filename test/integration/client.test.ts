import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createApp } from '../../src/app.js';
import { createRoutingClient, type RoutingClient, type RoutingClientError, type RoutingClientOptions, type SwapInfo } from '../../src/client/index.js';
import { publicKeyPem, sign, signingKeyFrom } from '../../src/domain/signing.js';
import { addListing, removeListing } from '../../src/features/blocklist/service.js';
import { assignPool, releasePool } from '../../src/features/pools/service.js';
import { testContext, type TestContext } from '../helpers/context.js';

/** Resolves with the first swap after which `check()` holds (checked right away too); rejects after `timeoutMs`. */
function swapUntil(client: RoutingClient, check: () => boolean, timeoutMs = 5000): Promise<SwapInfo | null> {
  if (check()) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('swap', onSwap);
      reject(new Error(`no swap made the condition true within ${timeoutMs} ms (client at version ${client.version})`));
    }, timeoutMs);
    function onSwap(info: SwapInfo) {
      if (!check()) return;
      clearTimeout(timer);
      client.off('swap', onSwap);
      resolve(info);
    }
    client.on('swap', onSwap);
  });
}

/** Resolves with the next error of the given code. */
function nextError(client: RoutingClient, code: RoutingClientError['code'], timeoutMs = 5000): Promise<RoutingClientError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${code} error within ${timeoutMs} ms`)), timeoutMs);
    const onError = (err: RoutingClientError) => {
      if (err.code !== code) return;
      clearTimeout(timer);
      client.off('error', onError);
      resolve(err);
    };
    client.on('error', onError);
  });
}

/** Starts the client and waits until it is ready, failing with its last error after `timeoutMs`. */
async function started(client: RoutingClient, timeoutMs = 10_000): Promise<RoutingClient> {
  let last: RoutingClientError | undefined;
  const onError = (err: RoutingClientError) => (last = err);
  client.on('error', onError).start();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`client not ready within ${timeoutMs} ms; last error: ${last ? `${last.code}: ${last.message}` : 'none'}`)), timeoutMs);
  });
  try {
    await Promise.race([client.ready, timeout]);
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
  }
  return client;
}

/** A port on which nothing listens any more: the server is down. */
async function deadBaseUrl(): Promise<string> {
  const { createServer } = await import('node:http');
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return `http://127.0.0.1:${port}`;
}

describe('routing client (reference client against the real app over HTTP)', () => {
  let ctx: TestContext;
  let server: Server;
  let baseUrl: string;
  let token: string;
  let publicKey: string;
  let dir: string;
  const clients: RoutingClient[] = [];
  const client = (opts: Partial<RoutingClientOptions> = {}) => {
    const c = createRoutingClient({ baseUrl, token, publicKey, ...opts });
    clients.push(c);
    return c;
  };

  before(async () => {
    ctx = testContext();
    await ctx.db.selectFrom('job_outbox').select('id').limit(1).execute(); // the schema made now, not inside a timed step
    token = await ctx.apiTokens.create('routing-client-test');
    server = createApp(ctx).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // With no SNAPSHOT_SIGNING_KEY the key is derived from the secret; the server publishes its public half.
    publicKey = publicKeyPem(signingKeyFrom({ secret: ctx.config.secret }));
    dir = await mkdtemp(path.join(tmpdir(), 'pm-client-'));
  });

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await new Promise((r) => server.close(r));
    await ctx.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the public key that verifies the snapshot signature, over the exact body bytes', async () => {
    const pem = await (await fetch(`${baseUrl}/api/v1/routing/public-key`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.equal(pem, publicKey);
    const res = await fetch(`${baseUrl}/api/v1/routing/snapshot`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.headers.get('x-snapshot-signature'), `ed25519 ${sign(body, signingKeyFrom({ secret: ctx.config.secret }))}`);
  });

  it('sees a listing added with addListing() within a second, and the address removed inside it', async () => {
    const c = await started(client()); // default pollMs (500 ms)
    assert.equal(c.isBlocked('198.51.100.7'), false);
    const t0 = performance.now();
    await addListing(ctx, { target: '198.51.100.0/24', category: 'spam-source', expires: '7d', source: 'test', by: 'test' });
    const swap = await swapUntil(c, () => c.isBlocked('198.51.100.7'), 1000);
    assert.ok(performance.now() - t0 < 1000, `seen after ${performance.now() - t0} ms`);
    assert.equal(swap?.source, 'feed');
    assert.equal(c.isBlocked('::ffff:198.51.100.200'), true);
    assert.equal(c.isBlocked('198.51.101.7'), false);

    const { version } = await removeListing(ctx, '198.51.100.23', 'test');
    await swapUntil(c, () => c.version === version, 2000);
    assert.equal(c.isBlocked('198.51.100.23'), false);
    assert.equal(c.isBlocked('198.51.100.24'), true);
  });

  it('reads the snapshot again when the feed was trimmed behind it', async () => {
    const c = await started(client({ pollMs: 50 }));
    await c.stop();
    const behind = c.version!;
    for (let i = 1; i <= 4; i++) await addListing(ctx, { target: `192.0.2.${i}`, category: 'manual', expires: 'never', source: 'test', by: 'test' });
    await ctx.routing.trimFeed(1);
    const gone = await fetch(`${baseUrl}/api/v1/routing/feed?after=${behind}`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(gone.status, 410);

    c.start();
    const swap = await swapUntil(c, () => c.isBlocked('192.0.2.4'));
    assert.equal(swap?.source, 'snapshot');
    assert.equal(c.version, await ctx.routing.version());
    assert.equal(c.isBlocked('192.0.2.1'), true);
  });

  it('refuses a snapshot whose body or signature was tampered with, keeping the last good one', async () => {
    let tamper: 'none' | 'body' | 'signature' = 'none';
    const otherKey = signingKeyFrom({ secret: 'someone-else-entirely-with-a-long-secret' });
    const cacheFile = path.join(dir, 'tamper.snapshot');
    const tamperingFetch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (tamper === 'none' || !String(input).includes('/routing/snapshot') || res.status !== 200) return res;
      const body = Buffer.from(await res.arrayBuffer());
      const headers = new Headers(res.headers);
      if (tamper === 'signature') {
        headers.set('x-snapshot-signature', `ed25519 ${sign(body, otherKey)}`);
        return new Response(body, { status: 200, headers });
      }
      const snapshot = JSON.parse(body.toString()) as { blocklist: unknown[] };
      snapshot.blocklist.push({ cidr: '0.0.0.0/0', category: 'manual', reason: 'x', source: 'x', listedAt: new Date().toISOString(), expiresAt: null });
      headers.delete('content-length');
      return new Response(JSON.stringify(snapshot), { status: 200, headers });
    };
    const c = await started(client({ pollMs: 50, fetch: tamperingFetch, cacheFile }));
    const good = c.version!;
    const cached = await readFile(cacheFile);

    for (const how of ['body', 'signature'] as const) {
      tamper = how;
      const refused = nextError(c, 'SNAPSHOT_SIGNATURE_INVALID');
      await addListing(ctx, { target: `203.0.113.${how === 'body' ? 1 : 2}`, category: 'manual', expires: 'never', source: 'test', by: 'test' });
      await ctx.routing.trimFeed(0); // force a snapshot read
      await refused;
      assert.equal(c.version, good, 'still on the last good version');
      assert.equal(c.isBlocked('10.1.2.3'), false, 'the injected 0.0.0.0/0 never took effect');
      assert.deepEqual(await readFile(cacheFile), cached, 'the cache still holds the last good snapshot');
    }

    tamper = 'none';
    await swapUntil(c, () => c.isBlocked('203.0.113.2'));
    assert.equal(c.version, await ctx.routing.version());
  });

  it('cold-starts from the cache file while the server is down, and refuses a tampered cache', async () => {
    const cacheFile = path.join(dir, 'routing.snapshot');
    const online = await started(client({ cacheFile }));
    await online.stop();
    // Only this client's temporary files: another test's client may still be polling and writing its own cache in dir.
    assert.deepEqual((await readdir(dir)).filter((f) => f.startsWith(`.${path.basename(cacheFile)}.`) && f.endsWith('.tmp')), [], 'no temporary file left behind');
    assert.match((await readFile(cacheFile)).subarray(0, 40).toString(), /^postmaster-snapshot ed25519 /);

    const down = await deadBaseUrl();
    const cold = client({ baseUrl: down, cacheFile, pollMs: 50 });
    const unreachable = nextError(cold, 'UNREACHABLE');
    const swaps: SwapInfo[] = [];
    await started(cold.on('swap', (s) => swaps.push(s)));
    await unreachable;
    assert.equal(cold.version, online.version);
    assert.deepEqual(swaps.map((s) => s.source), ['cache']);
    for (const ip of ['198.51.100.7', '198.51.100.23', '192.0.2.3', '2001:db8::1']) assert.equal(cold.isBlocked(ip), online.isBlocked(ip), ip);
    assert.equal(cold.isBlocked('198.51.100.7'), true);

    const raw = await readFile(cacheFile);
    const forged = Buffer.from(raw.toString().replace('"198.51.100.0/24"', '"198.51.100.0/23"'));
    assert.notDeepEqual(forged, raw);
    const forgedFile = path.join(dir, 'forged.snapshot');
    await writeFile(forgedFile, forged);
    const refused = client({ baseUrl: down, cacheFile: forgedFile, pollMs: 50 });
    const invalid = nextError(refused, 'CACHE_INVALID');
    refused.start();
    await invalid;
    assert.equal(refused.version, null);
    assert.equal(refused.isBlocked('198.51.100.7'), false);
  });

  it('answers poolFor from the assignments it follows (assignPool, parent domains, release)', async () => {
    const c = await started(client({ pollMs: 50 }));
    assert.equal(c.poolFor({ tenant: 'acme' }).pool, 'normal');

    await assignPool(ctx, { kind: 'tenant', key: 'acme', pool: 'high-risk', expires: '72h', reason: 'spam run', source: 'test', by: 'test' });
    await swapUntil(c, () => c.poolFor({ tenant: 'acme' }).pool === 'high-risk');
    assert.match(c.poolFor({ tenant: 'acme' }).reasons[0] ?? '', /Tenant acme is assigned to the high-risk pool/);
    assert.equal(c.poolFor({ tenant: 'other' }).pool, 'normal');

    await assignPool(ctx, { kind: 'domain', key: 'example.com', pool: 'relay', reason: 'forwarder', source: 'test', by: 'test' });
    await swapUntil(c, () => c.poolFor({ domain: 'mail.example.com' }).pool === 'relay');
    assert.equal(c.poolFor({ tenant: 'acme', domain: 'mail.example.com' }).pool, 'high-risk', 'high-risk wins over relay');
    assert.equal(c.poolFor({ domain: 'example.org' }).pool, 'normal');
    assert.equal(c.poolFor({ domain: 'example.org', isNdr: true }).pool, 'high-risk');

    await releasePool(ctx, 'tenant', 'acme', 'test', 'cleaned up');
    await swapUntil(c, () => c.poolFor({ tenant: 'acme' }).pool === 'normal');
    const later = new Date(Date.now() + 73 * 3_600_000);
    assert.equal(c.poolFor({ domain: 'example.com' }, later).pool, 'relay', 'an assignment without expiry stays');
  });
});
