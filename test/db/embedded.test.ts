import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { ensurePostgres, findPostgresBinDir, PostgresUnavailableError } from '../../src/db/embedded.js';

/**
 * The embedded default's last resort: with no server to use, a private cluster is initialised and started from the
 * PostgreSQL installation, listening only on a unix socket in its own directory. `probe: false` skips the look for
 * a running server, so this does not depend on what the machine runs.
 */
const binDir = await findPostgresBinDir();

async function query(url: string, text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await client.query(text);
  } finally {
    await client.end();
  }
}

test('DATABASE_URL, when set, is used as it is', async () => {
  const handle = await ensurePostgres('postgresql://someone@db.example.net:6543/portal');
  assert.equal(handle.url, 'postgresql://someone@db.example.net:6543/portal');
  assert.equal(handle.source, 'env');
  await handle.stop(); // a no-op: nothing was started
});

test('with no PostgreSQL installation, a clear message names the package', async () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'pm-nopg-'));
  try {
    await assert.rejects(ensurePostgres(undefined, { probe: false, binDir: empty, dataDir: path.join(empty, 'data') }), (err: Error) => {
      assert.ok(err instanceof PostgresUnavailableError);
      assert.match(err.message, /apt-get install postgresql/);
      assert.match(err.message, /DATABASE_URL/);
      return true;
    });
    assert.equal(existsSync(path.join(empty, 'data')), false, 'nothing was created');
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});

test(
  'with no server to use, a private cluster is initialised and started, keeps its data across restarts, and stops',
  { skip: binDir ? false : 'the PostgreSQL binaries (initdb, pg_ctl) are not installed: apt-get install postgresql', timeout: 180_000 },
  async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'pm-pg-'));
    let handle = await ensurePostgres(undefined, { probe: false, dataDir, database: 'portal_probe', settings: { fsync: 'off' } });
    try {
      assert.equal(handle.source, 'private');
      assert.ok(existsSync(path.join(dataDir, 'PG_VERSION')), 'initdb ran in the given directory');
      assert.equal(statSync(dataDir).mode & 0o077, 0, 'the data directory is closed to other users');
      assert.match(handle.url, new RegExp(`@${encodeURIComponent(dataDir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5432/portal_probe$`), 'it is reached through a socket in its own directory');

      const settings = await query(handle.url, "SELECT current_database() AS db, current_setting('data_directory') AS dir, current_setting('listen_addresses') AS listen");
      assert.deepEqual(settings.rows, [{ db: 'portal_probe', dir: dataDir, listen: '' }], 'the database exists; no TCP listener');
      await query(handle.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'still here\')');

      // A second call while it runs uses the running cluster and does not own it.
      const again = await ensurePostgres(undefined, { probe: false, dataDir, database: 'portal_probe' });
      assert.equal(again.url, handle.url);
      await again.stop();
      assert.equal((await query(handle.url, 'SELECT 1 AS one')).rows[0].one, 1, 'still running after the non-owner stop');

      await handle.stop();
      await assert.rejects(query(handle.url, 'SELECT 1'), 'stopped: nothing answers on its socket');

      // Started again: the cluster is reused (no second initdb), with its data.
      handle = await ensurePostgres(undefined, { probe: false, dataDir, database: 'portal_probe', settings: { fsync: 'off' } });
      assert.deepEqual((await query(handle.url, 'SELECT v FROM kept')).rows, [{ v: 'still here' }]);
    } finally {
      await handle.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
);
