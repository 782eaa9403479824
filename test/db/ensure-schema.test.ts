import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createDb, ensureSchema } from '../../src/db/connection.js';
import { dropSchema, newSchemaName, testDatabaseUrl } from '../helpers/db.js';

test('processes starting together may all create their schema: none fails on the race', async () => {
  const url = await testDatabaseUrl();
  const dbs = Array.from({ length: 6 }, () => createDb({ url, max: 1 }));
  try {
    for (let round = 0; round < 5; round++) {
      const schema = newSchemaName();
      try {
        await Promise.all(dbs.map((db) => ensureSchema(db, schema)));
      } finally {
        await dropSchema(schema);
      }
    }
  } finally {
    await Promise.all(dbs.map((db) => db.destroy()));
  }
});
