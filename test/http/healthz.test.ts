import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import request from 'supertest';
import { createApp } from '../../src/app.js';
import type { Database } from '../../src/db/schema.js';
import { testContext } from '../helpers/context.js';

describe('GET /healthz', () => {
  it('is 200 when Redis and PostgreSQL answer, and 503 naming PostgreSQL when it does not', async () => {
    const ctx = testContext();
    try {
      await sql`SELECT 1`.execute(ctx.db); // the test schema is made and migrated on first use: not the health check's time
      assert.deepEqual((await request(createApp(ctx)).get('/healthz').expect(200)).body, { ok: true });
      // A database nobody listens on (port 9 is discard; nothing answers PostgreSQL there).
      const dead = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ host: '127.0.0.1', port: 9, connectionTimeoutMillis: 500 }) }) });
      try {
        const res = await request(createApp({ ...ctx, db: dead })).get('/healthz').expect(503);
        assert.deepEqual(res.body, { ok: false, redis: true, database: false });
        assert.equal(res.headers['cache-control'], 'no-store');
      } finally {
        await dead.destroy();
      }
    } finally {
      await ctx.cleanup();
    }
  });
});
