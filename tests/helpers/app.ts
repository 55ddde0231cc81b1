// Builds the real app in process on real storage: SQLite in a temp dir and memory KV by default,
// or a fresh Postgres database and a Redis key prefix. Nothing of our own is mocked.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, createServices, type ServiceOptions, type Services } from '../../src/app.ts';
import { type Env, parseConfig } from '../../src/config/index.ts';
import { closeInfra, type Infra, openInfra } from '../../src/infra/index.ts';
import { createLogger } from '../../src/infra/log/index.ts';
import { cheapPasswordHashes, createTestDatabase, createTestRedisPrefix, hasPostgres, hasRedis, redisUrl } from './services.ts';

export type StorageKind = { database: 'sqlite' | 'postgres'; kv: 'memory' | 'redis' };

export type TestApp = {
  infra: Infra;
  app: ReturnType<typeof createApp>;
  services: Services;
  /** Every log line written, parsed, for assertions about what was (not) logged. */
  logs: Record<string, unknown>[];
  request(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  close(): Promise<void>;
};

export async function createTestApp(
  kind: StorageKind = { database: 'sqlite', kv: 'memory' },
  env: Env = {},
  options: ServiceOptions = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'));
  const database = kind.database === 'postgres' ? await createTestDatabase({ migrated: true }) : undefined;
  const redis = kind.kv === 'redis' ? createTestRedisPrefix() : undefined;
  const config = parseConfig({
    DATA_DIR: dataDir,
    NODE_ENV: 'test',
    LOG_LEVEL: 'debug',
    // Cheap password hashes: argon2id at its default cost takes ~120 ms of CPU per register or login.
    ...cheapPasswordHashes,
    DATABASE_URL: database?.url,
    REDIS_URL: redis ? redisUrl : undefined,
    REDIS_KEY_PREFIX: redis?.prefix,
    ...env,
  });
  const logs: Record<string, unknown>[] = [];
  const log = createLogger(config.logLevel, (line) => logs.push(JSON.parse(line)));
  const infra = await openInfra(config, log);
  await infra.db.migrate();
  const services = createServices(infra, options);
  const app = createApp(infra, services);
  return {
    infra,
    app,
    services,
    logs,
    request(path, init = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (json !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return app.handle(
        new Request(`http://localhost${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body }),
      );
    },
    async close() {
      await services.replies.drain(0);
      await services.close();
      await closeInfra(infra);
      await redis?.cleanup();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The storage combinations a suite should run on, given which services are up. */
export function storageKinds(services: { postgres: boolean; redis: boolean }): [string, StorageKind][] {
  const kinds: [string, StorageKind][] = [['sqlite+memory', { database: 'sqlite', kv: 'memory' }]];
  if (services.postgres && services.redis) kinds.push(['postgres+redis', { database: 'postgres', kv: 'redis' }]);
  return kinds;
}

/** The storage kinds of this machine: sqlite+memory always, postgres+redis when both are up. */
export const kinds = storageKinds({ postgres: hasPostgres, redis: hasRedis });

/**
 * Another instance of `first`'s deployment: its database, Redis key prefix and JWT secret, as
 * two instances behind a load balancer. `first` must run on Postgres and Redis; close the
 * second one before `first` (which drops the database).
 */
export function createSecondInstance(first: TestApp, env: Env = {}): Promise<TestApp> {
  const { databaseUrl, redisKeyPrefix, jwtSecret } = first.infra.config;
  return createTestApp(undefined, {
    ...env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: redisKeyPrefix,
    JWT_SECRET: jwtSecret,
  });
}
