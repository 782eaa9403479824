import { after, before, describe, it, type TestContext as NodeTestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { accessSync, constants as fsConstants } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import express from 'express';
import ipaddr from 'ipaddr.js';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import type { BlockEntry, Exclusion } from '../../src/domain/listing.js';
import { addListing, removeListing } from '../../src/features/blocklist/service.js';
import { postfixChunks } from '../../src/features/exports/postfix.js';
import { rbldnsdChunks } from '../../src/features/exports/rbldnsd.js';
import { exportRoutes } from '../../src/features/exports/routes.js';
import { errorHandler, notFound } from '../../src/http/errors.js';
import { testContext, type TestContext } from '../helpers/context.js';

const run = promisify(execFile);

/** A program on PATH or in the sbin directories (rbldnsd and postmap live in /usr/sbin, often not on a user's PATH). */
function program(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs.filter(Boolean)) {
    const file = path.join(dir, name);
    try {
      accessSync(file, fsConstants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

const RBLDNSD = program('rbldnsd');
const DIG = program('dig');
const POSTMAP = program('postmap');
const MISSING_DNS = !RBLDNSD || !DIG ? `needs ${[!RBLDNSD && 'rbldnsd', !DIG && 'dig'].filter(Boolean).join(' and ')}: apt-get install -y rbldnsd dnsutils (CI installs them)` : null;
const MISSING_POSTMAP = !POSTMAP ? 'needs postmap: DEBIAN_FRONTEND=noninteractive apt-get install -y postfix (CI installs it)' : null;

const ZONE = 'bl.test';
const MANUAL_REASON = 'Listed by our staff: it costs us $5 \u2014 see \u201cFAQ\u201d #42\nsecond line';
const PUBLIC_URL = 'http://portal.test';

/** The DNSBL query name of an address: reversed octets, or reversed nibbles for IPv6 (RFC 5782). */
function dnsblName(address: string): string {
  const ip = ipaddr.parse(address);
  const labels =
    ip.kind() === 'ipv4'
      ? (ip as ipaddr.IPv4).octets.map(String)
      : (ip as ipaddr.IPv6).parts.flatMap((part) => part.toString(16).padStart(4, '0').split(''));
  return `${labels.reverse().join('.')}.${ZONE}`;
}

async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => socket.once('error', reject).bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

/** Starts rbldnsd in the foreground (-n) serving `file` from `dir`; resolves once it says it started. */
async function startRbldnsd(dir: string, file: string): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const port = await freeUdpPort();
  // As root, rbldnsd drops to its own user (rbldns), so the directory and the file are world-readable.
  const child = spawn(RBLDNSD!, ['-n', '-b', `127.0.0.1/${port}`, '-w', dir, '-t', '60', `${ZONE}:combined:${file}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`rbldnsd did not start in 10 s:\n${output}`)), 10_000);
    const check = () => {
      if (/started/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rbldnsd exited with ${code}:\n${output}`));
    });
  });
  return { child, port, output: () => output };
}

/** `dig +short` lines for a name and type (TXT strings unquoted). */
async function dig(port: number, name: string, type: 'A' | 'TXT' | 'SOA'): Promise<string[]> {
  const { stdout } = await run(DIG!, [`@127.0.0.1`, '-p', String(port), '+short', '+time=2', '+tries=2', name, type]);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => (type === 'TXT' ? l.replace(/^"|"$/g, '').replace(/\\"/g, '"') : l));
}

/** `postmap -q <key> cidr:<file>`: the result, or null when no line matches (exit 1). */
async function postmapQuery(file: string, key: string): Promise<string | null> {
  try {
    const { stdout } = await run(POSTMAP!, ['-q', key, `cidr:${file}`]);
    return stdout.trim();
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    if (e.code === 1 && !e.stderr?.trim()) return null;
    throw err;
  }
}

/** GET with Accept-Encoding: gzip and no automatic decoding (supertest and fetch both decode). */
function rawGet(app: express.Express, pathname: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      http
        .get({ host: '127.0.0.1', port, path: pathname, headers }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => server.close(() => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) })));
        })
        .on('error', (err) => server.close(() => reject(err)));
    });
  });
}

/** The app under test: createApp once it mounts the exports, until then the exports router on its own. */
async function appFor(ctx: TestContext): Promise<express.Express> {
  const full = createApp(ctx);
  const probe = await request(full).get('/api/v1/exports/rbldnsd');
  if (probe.status !== 404) return full;
  const app = express();
  app.use(exportRoutes(ctx));
  app.use(notFound);
  app.use(errorHandler(ctx.logger));
  return app;
}

const skipUnless = (t: NodeTestContext, missing: string | null) => {
  if (missing) t.skip(missing);
  return !!missing;
};

describe('exports for rbldnsd and Postfix', () => {
  let ctx: TestContext;
  let app: express.Express;
  let token: string;
  let dir: string;
  let rbldnsd: Awaited<ReturnType<typeof startRbldnsd>> | null = null;
  const auth = () => ({ Authorization: `Bearer ${token}` });
  const get = (format: string) => request(app).get(`/api/v1/exports/${format}`).set(auth()).set('Accept-Encoding', 'identity');

  before(async () => {
    // The category's public reason with a dollar sign, typographic characters and a line break: must not break either file.
    ctx = testContext({ env: { PUBLIC_URL }, policy: (p) => ({ ...p, categories: { ...p.categories, manual: { ...p.categories.manual!, reason: MANUAL_REASON } } }) });
    token = await ctx.apiTokens.create('mta-fleet');
    app = await appFor(ctx);
    dir = await mkdtemp(path.join(os.tmpdir(), 'pm-exports-'));
    await chmod(dir, 0o755);
    const by = { source: 'test', by: 'test' };
    await addListing(ctx, { target: '198.51.100.0/24', category: 'backscatter', expires: 'never', ...by });
    await removeListing(ctx, '198.51.100.23', 'test');
    await addListing(ctx, { target: '2001:db8:bad::/48', category: 'malware', expires: 'never', ...by });
    // Listed an hour ago for one minute: expired, and not yet removed (no worker runs here).
    await addListing(ctx, { target: '192.0.2.77', category: 'spam-source', expires: '1m', ...by }, new Date(Date.now() - 3_600_000));
    // A reason typed by staff is internal (issue 13 review: the zone published it): the TXT has the category's reason.
    await addListing(ctx, { target: '192.0.2.128/25', category: 'manual', expires: 'never', reason: 'internal: ticket #42, the sender is a friend of Bob', ...by });
  });

  after(async () => {
    rbldnsd?.child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
    await ctx.cleanup();
  });

  it('refuses both exports without a valid token with 401 JSON', async () => {
    for (const format of ['rbldnsd', 'postfix']) {
      const none = await request(app).get(`/api/v1/exports/${format}`).expect(401).expect('content-type', /json/);
      assert.equal(none.body.code, 'UNAUTHORIZED');
      assert.match(none.headers['www-authenticate'] ?? '', /Bearer/);
      await request(app).get(`/api/v1/exports/${format}`).set('Authorization', 'Bearer pmt_' + 'x'.repeat(43)).expect(401);
    }
  });

  it('answers plain text built from one snapshot version, with a strong ETag and no caching without revalidation', async () => {
    const res = await get('rbldnsd').expect(200);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['cache-control'], 'no-cache');
    assert.match(res.headers.vary ?? '', /Accept-Encoding/i);
    const version = Number(res.headers['x-routing-version']);
    assert.ok(version >= 5);
    // One entry of this version has expired since: that is part of the tag, since the text leaves it out.
    assert.equal(res.headers.etag, `"v${version}-e1-rbldnsd"`);
    assert.match(res.text, new RegExp(`^# .*\\n# routing version ${version}, snapshot of 20\\d\\d-`));
    assert.match(res.text, /^\$SOA 0 portal\.test hostmaster\.portal\.test \d+ /m);
    assert.match(res.text, /^\$DATASET ip4trie\S* @$/m);
    assert.match(res.text, /^\$DATASET ip6trie\S* @$/m);
    assert.match(res.text, /^:127\.0\.0\.2:.* - http:\/\/portal\.test\/lookup\?ip=\$$/m);
    assert.match(res.text, /^!198\.51\.100\.23$/m);
    assert.match(res.text, /^198\.51\.100\.0\/24 :127\.0\.0\.3:This address sent misdirected bounces \(backscatter\) to our customers\. - http:\/\/portal\.test\/lookup\?ip=\$$/m);
    assert.match(res.text, /^2001:db8:bad::\/48 :127\.0\.0\.5:/m);
    assert.doesNotMatch(res.text, /192\.0\.2\.77/);
    assert.match(res.text, /# end of data: 3 listings, 1 exclusions, 1 expired left out\.\n$/);
    // The public answer is the category's reason, as the check API and /lookup give it; never the staff's text.
    assert.match(res.text, /^192\.0\.2\.128\/25 :127\.0\.0\.7:Listed by our staff: it costs us \$\$5 - see "FAQ" #42 second line - http:\/\/portal\.test\/lookup\?ip=\$$/m);
    assert.doesNotMatch(res.text, /internal|friend of Bob/);
    assert.ok(/^[\x09\x0a\x20-\x7e]*$/.test(res.text), 'the file is plain ASCII');

    const head = await request(app).head('/api/v1/exports/rbldnsd').set(auth()).expect(200);
    assert.equal(head.headers.etag, res.headers.etag);
    assert.equal(head.text ?? '', '');

    const postfix = await get('postfix').expect(200).expect('content-type', 'text/plain; charset=utf-8');
    assert.doesNotMatch(postfix.text, /internal|friend of Bob/);
    assert.equal(postfix.headers.etag, `"v${version}-e1-postfix"`);
  });

  it('answers 304 to If-None-Match with the current tag, checked per coding, and 200 with a new tag after a change', async () => {
    const first = await get('rbldnsd').expect(200);
    const tag = first.headers.etag!;
    const same = await get('rbldnsd').set('If-None-Match', tag);
    assert.equal(same.status, 304);
    assert.equal(same.text, '');
    assert.equal(same.headers.etag, tag);
    await get('rbldnsd').set('If-None-Match', `"v0-rbldnsd", W/${tag}`).expect(304);
    // The gzip answer is another representation with its own tag.
    const gz = await rawGet(app, '/api/v1/exports/rbldnsd', { ...auth(), 'Accept-Encoding': 'gzip', 'If-None-Match': tag });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers.etag, tag.replace(/"$/, '-gzip"'));
    await get('postfix').set('If-None-Match', tag).expect(200);
  });

  it('compresses with gzip when asked, to the same text', async () => {
    const plain = await get('rbldnsd').expect(200);
    const gz = await rawGet(app, '/api/v1/exports/rbldnsd', { ...auth(), 'Accept-Encoding': 'gzip, deflate, br' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(String(gz.headers.vary), /Accept-Encoding/i);
    assert.equal(gunzipSync(gz.body).toString('utf8'), plain.text);
    const none = await rawGet(app, '/api/v1/exports/postfix', { ...auth(), 'Accept-Encoding': 'identity' });
    assert.equal(none.headers['content-encoding'], undefined);
    assert.match(none.body.toString(), /^198\.51\.100\.23 DUNNO$/m);
  });

  it('is served as is by rbldnsd: RFC 5782 entries, the range, the exclusion, IPv6, the TXT with the lookup URL', async (t) => {
    if (skipUnless(t, MISSING_DNS)) return;
    const res = await get('rbldnsd').expect(200);
    const file = 'blocklist.rbldnsd';
    await writeFile(path.join(dir, file), res.text, { mode: 0o644 });
    rbldnsd = await startRbldnsd(dir, file);
    assert.doesNotMatch(rbldnsd.output(), /invalid|error|warning/i, rbldnsd.output());
    const port = rbldnsd.port;
    const a = (ip: string) => dig(port, dnsblName(ip), 'A');
    const txt = (ip: string) => dig(port, dnsblName(ip), 'TXT');

    // RFC 5782 section 5: 127.0.0.2 and ::FFFF:7F00:2 are listed, 127.0.0.1 and ::FFFF:7F00:1 are not.
    assert.deepEqual(await a('127.0.0.2'), ['127.0.0.2']);
    assert.deepEqual(await a('127.0.0.1'), []);
    assert.equal(dnsblName('::ffff:7f00:2'), `2.0.0.0.0.0.f.7.f.f.f.f.${'0.'.repeat(20)}${ZONE}`);
    assert.deepEqual(await a('::ffff:7f00:2'), ['127.0.0.2']);
    assert.deepEqual(await a('::ffff:7f00:1'), []);

    // The /24 answers its category's A record, with the reason and the lookup URL of the queried address.
    assert.deepEqual(await a('198.51.100.5'), ['127.0.0.3']);
    assert.deepEqual(await txt('198.51.100.5'), ['This address sent misdirected bounces (backscatter) to our customers. - http://portal.test/lookup?ip=198.51.100.5']);
    assert.deepEqual(await a('198.51.100.23'), [], 'the address removed inside the range is not listed');
    assert.deepEqual(await txt('198.51.100.23'), []);
    assert.deepEqual(await a('198.51.100.24'), ['127.0.0.3']);

    // IPv6: anything inside the /48, with the address in the URL.
    assert.deepEqual(await a('2001:db8:bad:7::25'), ['127.0.0.5']);
    assert.deepEqual(await txt('2001:db8:bad:7::25'), ['Malware was sent to our customers from this address. - http://portal.test/lookup?ip=2001:db8:bad:7::25']);
    assert.deepEqual(await a('2001:db8:bae::1'), []);

    // Unlisted and expired addresses are clean; the category's reason arrives as one ASCII line with its dollar sign.
    assert.deepEqual(await a('198.51.101.5'), []);
    assert.deepEqual(await a('192.0.2.77'), []);
    assert.deepEqual(await a('192.0.2.200'), ['127.0.0.7']);
    assert.deepEqual(await txt('192.0.2.200'), ['Listed by our staff: it costs us $5 - see "FAQ" #42 second line - http://portal.test/lookup?ip=192.0.2.200']);

    // The SOA serial is the routing version the file was built from.
    const [soa] = await dig(port, ZONE, 'SOA');
    assert.equal(soa?.split(' ')[2], res.headers['x-routing-version']);
  });

  it('is read by postmap as a cidr table: exclusions first, the range REJECTed with 5.7.606, IPv6 too, unlisted nothing', async (t) => {
    if (skipUnless(t, MISSING_POSTMAP)) return;
    const res = await get('postfix').expect(200);
    const file = path.join(dir, 'blocklist.cidr');
    await writeFile(file, res.text, { mode: 0o644 });
    const lines = res.text.split('\n').filter((l) => l && !l.startsWith('#'));
    const lastDunno = lines.map((l) => l.endsWith(' DUNNO')).lastIndexOf(true);
    const firstReject = lines.findIndex((l) => / REJECT /.test(l));
    assert.ok(lastDunno >= 0 && lastDunno < firstReject, 'DUNNO lines come before REJECT lines');

    assert.equal(await postmapQuery(file, '198.51.100.5'), 'REJECT 5.7.606 Access denied, banned sending IP [198.51.100.0/24]');
    assert.equal(await postmapQuery(file, '198.51.100.23'), 'DUNNO');
    assert.equal(await postmapQuery(file, '2001:db8:bad:7::25'), 'REJECT 5.7.606 Access denied, banned sending IP [2001:db8:bad::/48]');
    assert.equal(await postmapQuery(file, '192.0.2.200'), 'REJECT 5.7.606 Access denied, banned sending IP [192.0.2.128/25]');
    assert.equal(await postmapQuery(file, '198.51.101.5'), null);
    assert.equal(await postmapQuery(file, '2001:db8:bae::1'), null);
    assert.equal(await postmapQuery(file, '192.0.2.77'), null, 'the expired listing is gone');
  });

  it('keeps "longest prefix wins" in both programs when a listing sits inside an exclusion', async (t) => {
    // 10.20.0.0/16 listed, 10.20.30.0/24 excluded, 10.20.30.40 listed again: decide() says listed, listed, not listed.
    const entry = (cidr: string, category: string): BlockEntry => ({ cidr, category, reason: '', source: 'test', listedAt: '2024-01-01T00:00:00.000Z', expiresAt: null });
    const exclusion = (cidr: string): Exclusion => ({ cidr, reason: 'test', source: 'test', createdAt: '2024-01-01T00:00:00.000Z', expiresAt: null });
    const snapshot = { version: 9, generatedAt: '2024-01-01T00:00:00.000Z', blocklist: [entry('10.20.0.0/16', 'botnet'), entry('10.20.30.40', 'manual'), entry('2001:db8:1::/48', 'botnet'), entry('2001:db8:1:2::9', 'manual')], exclusions: [exclusion('10.20.30.0/24'), exclusion('2001:db8:1:2::/64')] };
    const expected: Array<[string, string | null, string]> = [
      ['10.20.1.1', '127.0.0.4', 'REJECT 5.7.606 Access denied, banned sending IP [10.20.0.0/16]'],
      ['10.20.30.41', null, 'DUNNO'],
      ['10.20.30.40', '127.0.0.7', 'REJECT 5.7.606 Access denied, banned sending IP [10.20.30.40]'],
      ['2001:db8:1:3::1', '127.0.0.4', 'REJECT 5.7.606 Access denied, banned sending IP [2001:db8:1::/48]'],
      ['2001:db8:1:2::8', null, 'DUNNO'],
      ['2001:db8:1:2::9', '127.0.0.7', 'REJECT 5.7.606 Access denied, banned sending IP [2001:db8:1:2::9]'],
    ];
    if (skipUnless(t, MISSING_POSTMAP ?? MISSING_DNS)) return;
    const cidrFile = path.join(dir, 'nested.cidr');
    await writeFile(cidrFile, [...postfixChunks(snapshot)].join(''), { mode: 0o644 });
    await writeFile(path.join(dir, 'nested.rbldnsd'), [...rbldnsdChunks(snapshot, { publicUrl: PUBLIC_URL, categories: ctx.policy.categories })].join(''), { mode: 0o644 });
    const nested = await startRbldnsd(dir, 'nested.rbldnsd');
    try {
      for (const [ip, answer, postfix] of expected) {
        assert.deepEqual(await dig(nested.port, dnsblName(ip), 'A'), answer ? [answer] : [], `rbldnsd ${ip}`);
        assert.equal(await postmapQuery(cidrFile, ip), postfix, `postmap ${ip}`);
      }
    } finally {
      nested.child.kill('SIGTERM');
    }
  });

  it('gives a new ETag once a listing changes the version', async () => {
    const before = await get('postfix').expect(200);
    await addListing(ctx, { target: '203.0.113.200', category: 'spam-source', expires: 'never', source: 'test', by: 'test' });
    const after = await get('postfix').set('If-None-Match', before.headers.etag!).expect(200);
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.equal(Number(after.headers['x-routing-version']), Number(before.headers['x-routing-version']) + 1);
    assert.match(after.text, /^203\.0\.113\.200 REJECT 5\.7\.606 Access denied, banned sending IP \[203\.0\.113\.200\]$/m);
  });
});
