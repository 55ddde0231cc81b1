// Real Postgres and Redis for the suites that need them. Each suite gets its own database or key
// prefix and removes it afterwards. Without the services the suites skip with a reason, unless
// REQUIRE_SERVICES=1 (CI), where their absence fails the run.

import Redis from 'ioredis';
import postgres from 'postgres';

export const postgresAdminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const servicesRequired = process.env.REQUIRE_SERVICES === '1';

async function reachable(check: () => Promise<unknown>): Promise<boolean> {
  try {
    await Promise.race([check(), Bun.sleep(3000).then(() => Promise.reject(new Error('timeout')))]);
    return true;
  } catch {
    return false;
  }
}

async function checkPostgres(): Promise<boolean> {
  const sql = postgres(postgresAdminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    return await reachable(() => sql`SELECT 1`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function checkRedis(): Promise<boolean> {
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 });
  client.on('error', () => {});
  try {
    return await reachable(async () => {
      await client.connect();
      await client.ping();
    });
  } finally {
    client.disconnect();
  }
}

function requireOrSkip(name: string, up: boolean): boolean {
  if (up) return true;
  if (servicesRequired) throw new Error(`REQUIRE_SERVICES=1 but ${name} is not reachable`);
  console.warn(`[skip] ${name} is not reachable: its suites are skipped (set REQUIRE_SERVICES=1 to fail instead)`);
  return false;
}

// Top-level await: decided once, before any describe.if runs.
export const hasPostgres = requireOrSkip(`PostgreSQL at ${postgresAdminUrl}`, await checkPostgres());
export const hasRedis = requireOrSkip(`Redis at ${redisUrl}`, await checkRedis());

/** argon2id at its lowest cost: tests prove what a password does, not how slow its hash is (~120 ms of CPU at the default). */
export const cheapPasswordHashes = { PASSWORD_HASH_MEMORY_KIB: '64', PASSWORD_HASH_TIME_COST: '1' };

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

const databaseUrl = (name: string) => {
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

let template: Promise<string> | undefined;

/**
 * A database with every migration applied, made once per test process: copying it (CREATE
 * DATABASE … TEMPLATE) is several times quicker than migrating each suite's database. Dropped
 * by `dropTestDatabases` (tests/setup.ts, after the last test file).
 */
function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const name = uniqueName('parley_template');
    const admin = postgres(postgresAdminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`CREATE DATABASE ${name}`);
    await admin.end();
    const { openPostgres } = await import('../../src/infra/db/postgres.ts');
    const db = openPostgres(databaseUrl(name));
    await db.migrate();
    await db.close();
    return name;
  })();
  return template;
}

async function adminQuery(statement: string): Promise<void> {
  const admin = postgres(postgresAdminUrl, { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(statement);
  } finally {
    await admin.end();
  }
}

async function copyOfTemplate(): Promise<string> {
  const name = uniqueName('parley_test');
  await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${await migratedTemplate()}`);
  return name;
}

// Copying a database costs ~150 ms (it is written to disk): the next suite's copy is made
// while the current suite runs, so suites rarely wait for one.
let spare: Promise<string> | undefined;
function takeMigratedCopy(): Promise<string> {
  const taken = spare ?? copyOfTemplate();
  spare = copyOfTemplate();
  spare.catch(() => undefined);
  return taken;
}

// A suite's database is dropped while the next suite runs; the last drops are awaited by
// dropTestDatabases (tests/setup.ts, after the last test file).
const dropping = new Set<Promise<void>>();
function dropLater(name: string): Promise<void> {
  const drop = adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => dropping.delete(drop));
  dropping.add(drop);
  return Promise.resolve();
}

/** Drops what this process left: suites' databases still being dropped, the unused spare copy and the migrated template. */
export async function dropTestDatabases(): Promise<void> {
  await Promise.allSettled([...dropping]);
  const names = await Promise.all([spare, template].map((made) => made?.catch(() => undefined)));
  spare = undefined;
  template = undefined;
  for (const name of names) if (name) await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/**
 * A fresh Postgres database, empty or (`migrated`) with every migration applied; `drop()`
 * removes it (connections included).
 */
export async function createTestDatabase(options: { migrated?: boolean } = {}): Promise<{ url: string; drop: () => Promise<void> }> {
  let name: string;
  if (options.migrated) name = await takeMigratedCopy();
  else {
    name = uniqueName('parley_test');
    await adminQuery(`CREATE DATABASE ${name}`);
  }
  return {
    url: databaseUrl(name),
    drop: () => dropLater(name),
  };
}

/** A key prefix no other suite uses, and a cleanup that deletes every key under it. */
export function createTestRedisPrefix(): { prefix: string; cleanup: () => Promise<void> } {
  const prefix = `${uniqueName('parley_test')}:`;
  return {
    prefix,
    async cleanup() {
      const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await client.unlink(...keys);
      } while (cursor !== '0');
      client.disconnect();
    },
  };
}
