// Shared pieces of the benchmarks: the executable under test, a bare Bun.serve baseline compiled
// with the same flags, process start/stop on loopback ports, /proc memory readings and tables.
// Benchmarks print figures only; they never assert.

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Subprocess } from 'bun';
import Redis from 'ioredis';

export const repoRoot = resolve(import.meta.dir, '..');
/** The executable under test: PARLEY_BIN when set (say, a build of another commit), else dist/parley. */
export const parleyPath = process.env.PARLEY_BIN ? resolve(process.env.PARLEY_BIN) : join(repoRoot, 'dist/parley');
export const buildFlags = ['--compile', '--minify', '--sourcemap', '--bytecode', '--format=esm'];

/** Every server we start, so a failed run still leaves no process behind. */
const children = new Set<Subprocess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** Temporary directories to remove on exit. */
const scratch: string[] = [];
process.on('exit', () => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

async function runOrThrow(argv: string[], cwd: string): Promise<void> {
  const proc = Bun.spawn(argv, { cwd, stdout: 'pipe', stderr: 'pipe' });
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.join(' ')} failed (${code}):\n${out}\n${err}`);
}

/** dist/parley as it is; built with `bun run build` only when missing (run the build to bench new code). */
export async function ensureParley(): Promise<string> {
  if (process.env.PARLEY_BIN && !existsSync(parleyPath)) throw new Error(`PARLEY_BIN=${parleyPath} does not exist`);
  if (!existsSync(parleyPath)) {
    console.error('dist/parley missing: running `bun run build` ...');
    await runOrThrow([process.execPath, 'run', 'build'], repoRoot);
  }
  return parleyPath;
}

// The baseline: the least a Bun HTTP server can be, compiled exactly like dist/parley, so the
// difference between the two is what Parley itself costs (framework, config, database, logging).
const baselineSource = `const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST ?? '127.0.0.1',
  fetch: (req) => new URL(req.url).pathname === '/health' ? Response.json({ status: 'ok' }) : new Response('not found', { status: 404 }),
});
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
`;

/** Compiles a one-file script with dist/parley's flags into a temporary directory; returns the executable. */
export async function compileLikeParley(name: string, source: string): Promise<string> {
  const dir = tempDir(`parley-bench-${name}-`);
  writeFileSync(join(dir, 'server.ts'), source);
  await runOrThrow([process.execPath, 'build', 'server.ts', ...buildFlags, '--outfile', name], dir);
  return join(dir, name);
}

let baseline: Promise<string> | undefined;
export function ensureBaseline(): Promise<string> {
  baseline ??= compileLikeParley('baseline', baselineSource);
  return baseline;
}

/** A port free on loopback right now (asked of the kernel, then released for the child to take). */
export function freePort(): number {
  const probe = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response() });
  const port = probe.port!;
  probe.stop(true);
  return port;
}

/** `healthPath`: what to poll for readiness when the target has no GET /health (a peer gateway). */
export type Target = { name: string; argv: string[]; env?: Record<string, string>; freshDataDir?: boolean; healthPath?: string };

export type Started = { proc: Subprocess<'ignore', 'ignore', 'pipe'>; url: string; msToFirst200: number; stop(): Promise<void> };

/** Spawns the target on a free port and polls GET /health every 2 ms until the first 200. */
export async function startTarget(target: Target, dataDir?: string, timeoutMs = 15_000): Promise<Started> {
  const port = freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...(dataDir ? { DATA_DIR: dataDir } : {}),
    ...target.env,
  };
  const url = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const proc = Bun.spawn(target.argv, { env, cwd: dataDir ?? tmpdir(), stdin: 'ignore', stdout: 'ignore', stderr: 'pipe' });
  children.add(proc);
  const stop = async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await Promise.race([proc.exited, Bun.sleep(5000).then(() => proc.kill('SIGKILL'))]);
    children.delete(proc);
  };
  for (;;) {
    try {
      const response = await fetch(`${url}${target.healthPath ?? '/health'}`);
      await response.arrayBuffer();
      if (response.status === 200) return { proc, url, msToFirst200: performance.now() - started, stop };
    } catch {
      // Not listening yet: connection refused.
    }
    if (proc.exitCode !== null) throw new Error(`${target.name} exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
    if (performance.now() - started > timeoutMs) {
      await stop();
      throw new Error(`${target.name}: no 200 from ${target.healthPath ?? '/health'} within ${timeoutMs} ms`);
    }
    await Bun.sleep(2);
  }
}

/** A field of /proc/PID/status in kB (VmRSS: resident now, VmHWM: peak resident). */
export function procStatusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined; // not Linux
  }
}

/** Nearest-rank percentile of already sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summary(values: number[]): { min: number; median: number; p90: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0] ?? Number.NaN, median: percentile(sorted, 50), p90: percentile(sorted, 90) };
}

export const fmt = {
  ms: (value: number) => (Number.isFinite(value) ? value.toFixed(value < 10 ? 2 : 1) : '-'),
  mb: (bytes: number | undefined) => (bytes === undefined ? '-' : (bytes / 1024 / 1024).toFixed(1)),
  kbAsMb: (kb: number | undefined) => (kb === undefined ? '-' : (kb / 1024).toFixed(1)),
  int: (value: number) => Math.round(value).toLocaleString('en-US'),
  ratio: (value: number, base: number) => (Number.isFinite(value / base) ? `${(value / base).toFixed(2)}x` : '-'),
};

/** Prints rows as an aligned plain-text table (first row is the header). */
export function printTable(title: string, rows: string[][]): void {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  console.log(`\n${title}`);
  console.log(line(rows[0]!));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows.slice(1)) console.log(line(row));
}

/** One line about where the figures come from; they only mean something beside the baseline. */
export function machineLine(): string {
  const cpu = cpus();
  return `bun ${Bun.version} · ${process.platform}/${process.arch} · ${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown cpu'}`;
}

/** The three processes we compare; parley runs with the image's production settings. */
export async function targets(): Promise<{ parley: Target; baseline: Target }> {
  const [parley, base] = await Promise.all([ensureParley(), ensureBaseline()]);
  return {
    parley: {
      name: 'parley',
      argv: [parley, 'serve'],
      env: { NODE_ENV: 'production', JWT_SECRET: 'bench-only-secret-'.padEnd(48, 'x') },
    },
    baseline: { name: 'bare Bun.serve', argv: [base] },
  };
}

/** The Redis the benches use when one is up (the machine's own, as in CI). */
export const redisUrl = 'redis://127.0.0.1:6379';

/** A connected client, or undefined when no Redis answers on `redisUrl`. */
export async function redisReachable(): Promise<Redis | undefined> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    connectTimeout: 500,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => undefined); // reported by connect() below
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch {
    redis.disconnect();
    return undefined;
  }
}

/** Removes every key under `prefix`, in SCAN pages, without blocking Redis on a big DEL. */
export async function removeKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

/** `POST <base>/api/v1<path>` with a JSON body as the holder of `accessToken`, given up after `timeoutMs`. */
export function apiPoster(base: string, accessToken: string, timeoutMs: number) {
  return (path: string, body: unknown) =>
    fetch(`${base}/api/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
}
