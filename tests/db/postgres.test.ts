import { describe, expect, test } from 'bun:test';
import { openPostgres } from '../../src/infra/db/postgres.ts';
import { createTestDatabase, hasPostgres } from '../helpers/services.ts';
import { runStorageSuite } from './storage-suite.ts';

if (hasPostgres) {
  runStorageSuite('PostgreSQL (postgres.js)', async () => {
    const database = await createTestDatabase();
    return { db: openPostgres(database.url), cleanup: database.drop };
  });
}

describe.if(hasPostgres)('postgres migrations', () => {
  test('happy: instances migrating at once take turns: each migration is applied exactly once', async () => {
    const database = await createTestDatabase();
    const instances = [openPostgres(database.url), openPostgres(database.url), openPostgres(database.url)];
    try {
      const applied = await Promise.all(instances.map((db) => db.migrate()));
      expect(applied.reduce((a, b) => a + b, 0)).toBe(Math.max(...applied));
      expect(Math.max(...applied)).toBeGreaterThan(0);
    } finally {
      await Promise.all(instances.map((db) => db.close()));
      await database.drop();
    }
  });
});
