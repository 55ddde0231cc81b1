// What the two-layer cache (src/infra/cache) gains on the reads it serves: GET /api/v1/users/me,
// GET /api/v1/chats/categories and GET /api/v1/chats/featured, each measured twice in this one
// process against the in-process app (createApp + app.handle, no socket): (1) the cache as shipped,
// warm; (2) a baseline built on the same infra (same database, same KV) but with a pass-through
// cache whose namespaces call the loader on every read (the value still goes through
// JSON.stringify/parse, as a real miss does; no KV round trip). Both apps share one seeded user
// (6 chats in 3 categories, 4 featured chats). Load: BENCH_CONCURRENCY closed loops of
// app.handle for BENCH_SECONDS after a short warm-up; p50/p99 per request.
// SQLite + memory KV always; Postgres + Redis when Redis and Postgres answer (fresh database and
// key prefix, removed after).
//
//   bun bench/cache.ts
//   BENCH_SECONDS=5 BENCH_CONCURRENCY=64 bun bench/cache.ts

import { loadavg } from 'node:os';
import { createApp, createServices } from '../src/app.ts';
import { parseConfig } from '../src/config/index.ts';
import type { Cache, CacheNamespace } from '../src/infra/cache/index.ts';
import { closeInfra, type Infra, openInfra } from '../src/infra/index.ts';
import { createLogger } from '../src/infra/log/index.ts';
import { fmt, machineLine, percentile, printTable, redisReachable, redisUrl, removeKeys, tempDir } from './lib.ts';

const seconds = Number(process.env.BENCH_SECONDS ?? 2);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 32);
const warmupMs = 300;

type Figures = { rps: number; p50: number; p99: number; errors: number };
type App = ReturnType<typeof createApp>;

/** A cache that never keeps anything: every get runs the loader (JSON round trip, as on a miss). */
function passThroughCache(): Cache {
  const namespace = <T>(name: string): CacheNamespace<T> => ({
    name,
    get: async (_key, loader) => JSON.parse(JSON.stringify(await loader())) as T,
    invalidate: async () => undefined,
    invalidatePrefix: async () => undefined,
  });
  const layer = { hits: 0, misses: 0, hitRate: 0, keys: 0 };
  return {
    namespace,
    clear: async () => 0,
    stats: async () => ({ l1: layer, l2: layer, namespaces: {} }),
    counters: () => [],
    close: async () => undefined,
  };
}

const request = (app: App, path: string, token: string, init: RequestInit = {}) =>
  app.handle(
    new Request(`http://localhost${path}`, {
      ...init,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json', ...init.headers },
    }),
  );

async function run(app: App, path: string, token: string, ms: number): Promise<Figures> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + ms;
  const loop = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      const response = await request(app, path, token);
      await response.arrayBuffer();
      if (response.status === 200) latencies.push(performance.now() - sent);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { rps: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

const routes = [
  { label: 'GET /users/me', path: '/api/v1/users/me' },
  { label: 'GET /chats/categories', path: '/api/v1/chats/categories' },
  { label: 'GET /chats/featured', path: '/api/v1/chats/featured' },
];

type Row = { store: string; route: string; cached: Figures; baseline: Figures };

async function measureStore(store: string, env: Record<string, string | undefined>): Promise<Row[]> {
  const config = parseConfig({
    DATA_DIR: tempDir('parley-bench-cache-'),
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    RATE_LIMIT_ENABLED: 'false',
    PASSWORD_HASH_MEMORY_KIB: '64',
    PASSWORD_HASH_TIME_COST: '1',
    ...env,
  });
  const log = createLogger(config.logLevel, () => undefined);
  const infra = await openInfra(config, log);
  await infra.db.migrate();
  const cachedServices = createServices(infra);
  const cached = createApp(infra, cachedServices);
  const plainInfra: Infra = { ...infra, cache: passThroughCache() };
  const plainServices = createServices(plainInfra);
  const baseline = createApp(plainInfra, plainServices);
  try {
    const registered = await request(cached, '/api/v1/auth/register', '', {
      method: 'POST',
      body: JSON.stringify({ email: `bench-${crypto.randomUUID()}@example.com`, password: 'bench-password-long' }),
    });
    if (registered.status !== 201) throw new Error(`register: ${registered.status} ${await registered.text()}`);
    const { accessToken } = (await registered.json()) as { accessToken: string };
    for (let i = 0; i < 6; i++) {
      const made = await request(cached, '/api/v1/chats', accessToken, {
        method: 'POST',
        body: JSON.stringify({ title: `Chat ${i}`, category: ['work', 'home', 'travel'][i % 3] }),
      });
      const chat = (await made.json()) as { id: string };
      if (i < 4) await cachedServices.chats.setFeatured(chat.id, true);
    }
    const rows: Row[] = [];
    for (const route of routes) {
      // Same answer from both apps, or the comparison means nothing.
      const [a, b] = await Promise.all([cached, baseline].map(async (app) => (await request(app, route.path, accessToken)).text()));
      if (a !== b) throw new Error(`${store} ${route.label}: cached and baseline answers differ:\n${a}\n${b}`);
      await run(cached, route.path, accessToken, warmupMs);
      const c = await run(cached, route.path, accessToken, seconds * 1000);
      await run(baseline, route.path, accessToken, warmupMs);
      const p = await run(baseline, route.path, accessToken, seconds * 1000);
      rows.push({ store, route: route.label, cached: c, baseline: p });
      console.error(`${store} ${route.label}: cached ${fmt.int(c.rps)} req/s, baseline ${fmt.int(p.rps)} req/s`);
    }
    return rows;
  } finally {
    await cachedServices.replies.drain(0);
    await plainServices.replies.drain(0);
    await cachedServices.close();
    await plainServices.close();
    await closeInfra(infra);
  }
}

async function postgresDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  const admin = new Bun.SQL('postgres://postgres@127.0.0.1:5432/postgres', { max: 1, connectionTimeout: 2 });
  try {
    await admin`SELECT 1`;
  } catch {
    await admin.close().catch(() => undefined);
    return undefined;
  }
  const name = `parley_bench_cache_${Date.now().toString(36)}`;
  await admin.unsafe(`CREATE DATABASE ${name}`);
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    drop: async () => {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.close();
    },
  };
}

const rows: Row[] = [];
rows.push(...(await measureStore('SQLite + memory', {})));

const redis = await redisReachable();
const database = redis ? await postgresDatabase() : undefined;
if (redis && database) {
  const prefix = `parley_bench_cache_${Date.now().toString(36)}:`;
  try {
    rows.push(...(await measureStore('Postgres + Redis', { DATABASE_URL: database.url, REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix })));
  } finally {
    await removeKeys(redis, prefix);
    await database.drop();
  }
} else console.error('Postgres + Redis skipped: Redis or Postgres not reachable');
redis?.disconnect();

console.log(`\n${machineLine()} · load average ${loadavg()[0]!.toFixed(2)}`);
printTable(`Cache: cached (warm) vs pass-through baseline; ${concurrency} closed loops of app.handle, ${seconds} s each`, [
  ['store', 'route', 'cached req/s', 'p50 / p99 ms', 'baseline req/s', 'p50 / p99 ms', 'gain', 'errors'],
  ...rows.map((row) => [
    row.store,
    row.route,
    fmt.int(row.cached.rps),
    `${fmt.ms(row.cached.p50)} / ${fmt.ms(row.cached.p99)}`,
    fmt.int(row.baseline.rps),
    `${fmt.ms(row.baseline.p50)} / ${fmt.ms(row.baseline.p99)}`,
    fmt.ratio(row.cached.rps, row.baseline.rps),
    String(row.cached.errors + row.baseline.errors),
  ]),
]);
process.exit(0);
