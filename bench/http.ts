// HTTP throughput and latency of GET /health: dist/parley beside a bare Bun.serve compiled the
// same way. /health is the cheapest route, so the gap is Parley's per-request overhead (routing,
// request id and security headers, access log, validation), not any feature's cost.
//
// The load generator is in this process: N concurrent fetch loops on keep-alive connections to
// 127.0.0.1 for a fixed time. Each request has a timeout, so a run always ends. One JS thread
// drives the load, so on fast servers it can be the bottleneck: read the ratio to the baseline,
// not the absolute numbers.
//
//   bun bench/http.ts                (or `bun run bench` for everything)
//   BENCH_CONNECTIONS=128 BENCH_SECONDS=5 bun bench/http.ts
import { fmt, machineLine, percentile, printTable, procStatusKb, startTarget, type Target, targets, tempDir } from './lib.ts';

const connections = Number(process.env.BENCH_CONNECTIONS ?? 64);
const seconds = Number(process.env.BENCH_SECONDS ?? 3);
const warmupMs = 500;
const requestTimeoutMs = 5000;

type LoadResult = { ok: number; errors: number; elapsedMs: number; latencies: number[] };

/** `connections` loops, each sending one request at a time until the deadline. */
async function load(url: string, durationMs: number): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const sent = performance.now();
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) });
        await response.arrayBuffer();
        if (response.status === 200) latencies.push(performance.now() - sent);
        else errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  return { ok: latencies.length, errors, elapsedMs: performance.now() - started, latencies };
}

type Measured = { name: string; result: LoadResult; peakRssKb: number | undefined };

async function measure(name: string, target: Target, dataDir?: string): Promise<Measured> {
  const server = await startTarget(target, dataDir);
  try {
    await load(`${server.url}/health`, warmupMs); // JIT, connection pool and allocator warm-up
    const result = await load(`${server.url}/health`, seconds * 1000);
    return { name, result, peakRssKb: procStatusKb(server.proc.pid, 'VmHWM') };
  } finally {
    await server.stop();
  }
}

export async function benchHttp(): Promise<void> {
  const { parley, baseline } = await targets();
  const results = [
    // The image's default: one JSON access-log line per request (to /dev/null here).
    await measure('parley (LOG_LEVEL=info)', parley, tempDir('parley-bench-http-')),
    // Access log off, to show what logging costs.
    await measure('parley (LOG_LEVEL=warn)', { ...parley, env: { ...parley.env, LOG_LEVEL: 'warn' } }, tempDir('parley-bench-http-')),
    await measure('bare Bun.serve (baseline)', baseline),
  ];
  const rps = (measured: Measured) => measured.result.ok / (measured.result.elapsedMs / 1000);
  const baseRps = rps(results.at(-1)!);

  const rows = [['server', 'req/s', 'vs base', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'peak RSS MB']];
  for (const measured of results) {
    const sorted = measured.result.latencies.sort((a, b) => a - b);
    rows.push([
      measured.name,
      fmt.int(rps(measured)),
      fmt.ratio(rps(measured), baseRps),
      fmt.ms(percentile(sorted, 50)),
      fmt.ms(percentile(sorted, 99)),
      fmt.ms(sorted.at(-1) ?? Number.NaN),
      String(measured.result.errors),
      fmt.kbAsMb(measured.peakRssKb),
    ]);
  }
  printTable(`HTTP: GET /health, ${connections} concurrent keep-alive loops × ${seconds} s after ${warmupMs} ms warm-up, loopback`, rows);
}

if (import.meta.main) {
  console.log(machineLine());
  await benchHttp();
  process.exit(0);
}
