// Read-path throughput: GET /api/v1/auth/me and GET /api/v1/chats?limit=20 through the Parley
// executable (Bearer JWT and API key; SQLite, then Postgres + Redis), each beside a "floor": a
// bare Bun.serve doing only JWT verify + one prepared query + Response.json on the same table
// shape (bench/read-floor.ts), compiled with dist/parley's flags. "% floor" is Parley's req/s as
// a share of the floor's for the same route and database; the gap is what Parley adds per read
// (framework, validation, session check, KV, ORM, headers, log).
//
// Load comes from wrk in its own process (1 thread, BENCH_CONNECTIONS keep-alive connections,
// 1 s warm-up then BENCH_SECONDS); without wrk, an in-process fetch loop stands in (and says so).
// Postgres (postgres://postgres@127.0.0.1:5432) gets fresh databases, dropped after; Redis
// (127.0.0.1:6379) a fresh key prefix, deleted after. Either missing: the Postgres part is skipped.
//
//   bun bench/reads.ts                                   (also part of `bun run bench`)
//   PARLEY_BIN=/path/to/parley BENCH_SECONDS=10 BENCH_CONNECTIONS=128 bun bench/reads.ts
//   bun bench/reads.ts --profile   (or BENCH_PROFILE=1; PARLEY_SRC=checkout to profile, default this repo)

import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQL } from 'bun';
import Redis from 'ioredis';
import {
  compileLikeParley,
  fmt,
  machineLine,
  percentile,
  printTable,
  redisUrl,
  repoRoot,
  type Started,
  startTarget,
  type Target,
  targets,
  tempDir,
} from './lib.ts';

const seconds = Math.max(1, Math.round(Number(process.env.BENCH_SECONDS ?? 5)));
const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const pgAdminUrl = 'postgres://postgres@127.0.0.1:5432/postgres';
const chatCount = 50;
const wrkPath = Bun.which('wrk');
const loadLabel = wrkPath ? `wrk -t1 -c${connections}` : `in-process fetch loop × ${connections} (wrk not found)`;

type Figures = { rps: number; p50: number; p99: number; errors: number };
type Row = { store: string; server: string; route: Route; auth: string; figures: Figures };
type Route = { label: string; path: string; items?: number };
const me: Route = { label: 'GET /auth/me', path: '/api/v1/auth/me' };
const chatList: Route = { label: 'GET /chats?limit=20', path: '/api/v1/chats?limit=20', items: 20 };

// ---- load generation -------------------------------------------------------------------------

const wrkMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? Number.NaN);

async function runWrk(url: string, credential: string, secs: number): Promise<Figures> {
  const argv = [
    wrkPath!,
    '-t1',
    `-c${connections}`,
    `-d${secs}s`,
    '--timeout',
    '5s',
    '--latency',
    '-H',
    `Authorization: Bearer ${credential}`,
    url,
  ];
  const proc = Bun.spawn(argv, { stdout: 'pipe', stderr: 'pipe' });
  const [out] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const latency = (p: number) => {
    const match = new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    return match ? wrkMs(match[1]!, match[2]!) : Number.NaN;
  };
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN),
    p50: latency(50),
    p99: latency(99),
    errors: non2xx + socketErrors,
  };
}

/** The fallback: `connections` fetch loops in this process (one JS thread: it may be the bottleneck). */
async function runFetchLoop(url: string, credential: string, secs: number): Promise<Figures> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + secs * 1000;
  const headers = { authorization: `Bearer ${credential}` };
  const loop = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        const response = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
        await response.arrayBuffer();
        if (response.status === 200) latencies.push(performance.now() - sent);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  latencies.sort((a, b) => a - b);
  return {
    rps: latencies.length / ((performance.now() - started) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
  };
}

const load = (url: string, credential: string, secs: number) => (wrkPath ? runWrk : runFetchLoop)(url, credential, secs);

/** One request to see the route answers as meant (a 401 measured at full speed would mislead), then warm-up and the run. */
async function measure(server: Started, route: Route, credential: string): Promise<Figures> {
  const url = server.url + route.path;
  const response = await fetch(url, { headers: { authorization: `Bearer ${credential}` } });
  const body = (await response.json()) as { data?: unknown[] };
  if (response.status !== 200 || (route.items !== undefined && body.data?.length !== route.items)) {
    throw new Error(`${route.label} answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
  }
  await load(url, credential, 1); // JIT, statement caches, pools and allocator warm-up
  return load(url, credential, seconds);
}

// ---- Parley and the floor ----------------------------------------------------------------------

async function post<T>(url: string, body: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  if (!response.ok) throw new Error(`POST ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** A registered user with an API key and `chatCount` chats, made through the API like a client would. */
async function seedParley(server: Started): Promise<{ token: string; apiKey: string }> {
  const api = `${server.url}/api/v1`;
  const email = `bench-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const { accessToken } = await post<{ accessToken: string }>(`${api}/auth/register`, {
    email,
    password: 'bench-password-1',
    name: 'Bench',
  });
  const { key } = await post<{ key: string }>(`${api}/auth/api-keys`, { name: 'bench' }, accessToken);
  for (let i = 0; i < chatCount; i++) await post(`${api}/chats`, { title: `Bench chat ${i}` }, accessToken);
  return { token: accessToken, apiKey: key };
}

/** An HS256 token like Parley's (same secret, iss, claims) for the floor's seeded user. */
function floorToken(secret: string, sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${part({ alg: 'HS256' })}.${part({ sub, sid: crypto.randomUUID(), jti: crypto.randomUUID(), role: 'user', exp: now + 3600, iat: now, iss: 'parley' })}`;
  return `${unsigned}.${new Bun.CryptoHasher('sha256', secret).update(unsigned).digest('base64url')}`;
}

/** Starts the targets one after another (each migrates before the next opens the database), runs work, stops them all. */
async function withServers<T>(list: { target: Target; dataDir?: string }[], work: (servers: Started[]) => Promise<T>): Promise<T> {
  const servers: Started[] = [];
  try {
    for (const { target, dataDir } of list) servers.push(await startTarget(target, dataDir, 60_000));
    return await work(servers);
  } finally {
    for (const server of servers) await server.stop();
  }
}

type Setup = { parley: Target; floorBin: string; secret: string };

async function setup(): Promise<Setup> {
  const [{ parley }, floorBin] = await Promise.all([
    targets(),
    compileLikeParley('read-floor', readFileSync(join(import.meta.dir, 'read-floor.ts'), 'utf8')),
  ]);
  const env: Record<string, string> = { ...parley.env, RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'warn' };
  return { parley: { ...parley, env }, floorBin, secret: env.JWT_SECRET! };
}

/**
 * One database: the floor and Parley run side by side and are measured route by route, so drift
 * on a shared machine hits the rows being compared alike. On SQLite a second Parley with
 * LOG_LEVEL=info reads the same data directory, to show the access log's cost.
 */
async function benchStore(store: string, s: Setup, parleyEnv: Record<string, string>, floorDb: string, dataDir: string): Promise<Row[]> {
  const floor: Target = {
    name: `${store} floor`,
    argv: [s.floorBin],
    env: { JWT_SECRET: s.secret, FLOOR_DB: floorDb, FLOOR_USER_ID: 'floor-user' },
  };
  const parley = (level: string): Target => ({
    ...s.parley,
    name: `parley (LOG_LEVEL=${level})`,
    env: { ...s.parley.env, ...parleyEnv, LOG_LEVEL: level },
  });
  const withInfo = store === 'SQLite';
  const list = [{ target: floor }, { target: parley('warn'), dataDir }, ...(withInfo ? [{ target: parley('info'), dataDir }] : [])];
  return withServers(list, async ([floorServer, warn, info]) => {
    const seeded = await seedParley(warn!);
    const rows: Row[] = [];
    const run = async (label: string, server: Started, route: Route, auth: string, credential: string) =>
      rows.push({ store, server: label, route, auth, figures: await measure(server, route, credential) });
    for (const route of [me, chatList]) {
      await run('floor', floorServer!, route, 'Bearer JWT', floorToken(s.secret, 'floor-user'));
      await run('parley (LOG_LEVEL=warn)', warn!, route, 'Bearer JWT', seeded.token);
      await run('parley (LOG_LEVEL=warn)', warn!, route, 'API key', seeded.apiKey);
      if (info && route === chatList) await run('parley (LOG_LEVEL=info)', info, route, 'Bearer JWT', seeded.token);
    }
    return rows;
  });
}

async function benchSqlite(s: Setup): Promise<Row[]> {
  const floorDir = tempDir('parley-bench-reads-floor-');
  return benchStore('SQLite', s, {}, join(floorDir, 'floor.sqlite'), tempDir('parley-bench-reads-'));
}

/** Fresh databases and Redis prefix for this run; all removed after, even when a step fails. */
async function benchPostgres(s: Setup): Promise<Row[] | string> {
  const suffix = crypto.randomUUID().replaceAll('-', '').slice(0, 10);
  const [dbName, floorName, prefix] = [`parley_bench_${suffix}`, `parley_bench_${suffix}_floor`, `bench-${suffix}:`];
  const admin = new SQL({ url: pgAdminUrl, max: 1, connectionTimeout: 3 });
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  try {
    await admin`SELECT 1`;
    await redis.connect();
  } catch (error) {
    await admin.close().catch(() => {});
    redis.disconnect();
    return `Postgres part skipped: ${(error as Error).message}`;
  }
  const dbUrl = (name: string) => `postgres://postgres@127.0.0.1:5432/${name}`;
  try {
    await admin.unsafe(`CREATE DATABASE ${dbName}`);
    await admin.unsafe(`CREATE DATABASE ${floorName}`);
    return await benchStore(
      'Postgres',
      s,
      { DATABASE_URL: dbUrl(dbName), REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix },
      dbUrl(floorName),
      tempDir('parley-bench-reads-pg-'),
    );
  } finally {
    for (const name of [dbName, floorName]) await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }))
      if ((keys as string[]).length) await redis.del(...(keys as string[]));
    await admin.close();
    redis.disconnect();
  }
}

function printRows(rows: Row[], notes: string[]): void {
  const floorOf = (row: Row) => rows.find((f) => f.server === 'floor' && f.store === row.store && f.route === row.route)?.figures.rps;
  const table = [['database', 'server', 'route', 'credential', 'req/s', 'p50 ms', 'p99 ms', 'errors', '% floor']];
  for (const row of rows) {
    const floor = floorOf(row);
    const share = row.server === 'floor' || !floor ? '' : `${((100 * row.figures.rps) / floor).toFixed(0)}%`;
    table.push([
      row.store,
      row.server,
      row.route.label,
      row.auth,
      fmt.int(row.figures.rps),
      fmt.ms(row.figures.p50),
      fmt.ms(row.figures.p99),
      String(row.figures.errors),
      share,
    ]);
  }
  printTable(
    `Reads: ${loadLabel}, 1 s warm-up + ${seconds} s each, loopback; floor = Bun.serve + JWT verify + 1 prepared query (target ≥ 60%)`,
    table,
  );
  for (const note of notes) console.log(note);
}

export async function benchReads(): Promise<void> {
  const busy = loadavg()[0]!; // other work on the machine skews every row, floors included
  const s = await setup();
  const rows = await benchSqlite(s);
  const postgres = await benchPostgres(s);
  const notes: string[] = [];
  if (typeof postgres === 'string') notes.push(postgres);
  else rows.push(...postgres);
  if (!wrkPath)
    notes.push('wrk not found (apt-get install -y wrk): load came from an in-process fetch loop, which may itself be the bottleneck.');
  const after = loadavg()[0]!;
  if (Math.max(busy, after) >= 0.5)
    notes.push(
      `1-min load average ${busy.toFixed(2)} at the start, ${after.toFixed(2)} at the end: other processes shared the CPUs, so these figures are noisy.`,
    );
  printRows(rows, notes);
}

// ---- --profile: the chats list under a CPU profiler ----------------------------------------------

type ProfileNode = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
};
type CpuProfile = { nodes: ProfileNode[]; samples?: number[] };

const shortUrl = (frame: ProfileNode['callFrame']) => `${frame.url.replace(/^.*\/(node_modules|src)\//, '$1/')}:${frame.lineNumber + 1}`;

/**
 * Self time per function (summed over every call path), highest first. Native functions have no
 * url, so they are told apart by their nearest JS caller ("values" from drizzle's bun-sqlite
 * session is SQLite stepping a query); samples with no JS frame at all are I/O, GC and the like.
 */
export function topSelfTime(profile: CpuProfile, count: number): { name: string; where: string; samples: number; share: number }[] {
  const hits = new Map<number, number>();
  if (profile.samples?.length) for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  else for (const node of profile.nodes) hits.set(node.id, node.hitCount ?? 0);
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const byFunction = new Map<string, { name: string; where: string; samples: number }>();
  let busy = 0;
  for (const node of profile.nodes) {
    const frame = node.callFrame;
    const samples = hits.get(node.id) ?? 0;
    if (frame.functionName === '(idle)' || samples === 0) continue; // idle is waiting, not work
    busy += samples;
    let caller = parent.get(node.id);
    while (caller && /^$|^(bun|node):/.test(caller.callFrame.url)) caller = parent.get(caller.id); // skip runtime wrappers
    const where = frame.url ? shortUrl(frame) : caller ? `native, from ${shortUrl(caller.callFrame)}` : '';
    const name =
      frame.functionName ||
      (frame.url ? '(anonymous)' : parent.get(node.id) === profile.nodes[0] ? '(no JS frame: native I/O, GC)' : '(native)');
    const key = `${name}@${where}`;
    const entry = byFunction.get(key) ?? byFunction.set(key, { name, where, samples: 0 }).get(key)!;
    entry.samples += samples;
  }
  return [...byFunction.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, count)
    .map((entry) => ({ ...entry, share: entry.samples / busy }));
}

async function profileChats(): Promise<void> {
  const s = await setup();
  const source = process.env.PARLEY_SRC ?? repoRoot;
  const profileDir = mkdtempSync(join(tmpdir(), 'parley-reads-profile-')); // kept: it is the output
  const target: Target = {
    ...s.parley,
    name: 'parley (profiled)',
    argv: [process.execPath, '--cpu-prof', `--cpu-prof-dir=${profileDir}`, join(source, 'src/cli.ts'), 'serve'],
  };
  const dataDir = tempDir('parley-bench-reads-prof-');
  const figures = await withServers([{ target, dataDir }], async ([server]) =>
    measure(server!, chatList, (await seedParley(server!)).token),
  );
  const file = readdirSync(profileDir).find((name) => name.endsWith('.cpuprofile'));
  console.log(
    `\nProfile: bun --cpu-prof ${join(source, 'src/cli.ts')} serve (SQLite, LOG_LEVEL=warn), GET /chats?limit=20, ${loadLabel}, ${seconds} s`,
  );
  console.log(
    `  under the profiler: ${fmt.int(figures.rps)} req/s, p50 ${fmt.ms(figures.p50)} ms, p99 ${fmt.ms(figures.p99)} ms, ${figures.errors} errors`,
  );
  if (!file) return console.log(`  no .cpuprofile in ${profileDir} (did the server exit cleanly?)`);
  console.log(`  written to ${join(profileDir, file)}`);
  const top = topSelfTime(JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile, 15);
  const table = [['self %', 'samples', 'function', 'where']];
  for (const entry of top) table.push([`${(entry.share * 100).toFixed(1)}%`, String(entry.samples), entry.name, entry.where]);
  printTable('Top 15 functions by self time (share of non-idle samples)', table);
}

if (import.meta.main) {
  console.log(machineLine());
  if (process.argv.includes('--profile') || process.env.BENCH_PROFILE === '1') await profileChats();
  else await benchReads();
  process.exit(0);
}
