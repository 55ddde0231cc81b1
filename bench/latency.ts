// Latency a relay adds: time to first token (TTFT) with 1 and with 50 replies in flight, and the
// relay rate of a 2,000-token reply, for the official openai SDK reading a fake upstream directly
// (the baseline), Parley's two streaming routes (in-memory KV, and stored replies with Redis), and
// a peer gateway, Portkey, read with the same SDK. Targets: TTFT overhead ≤ 1 ms p50 and ≤ 5 ms
// p99 over direct; relay rate within 5% of direct. Figures only: nothing is asserted.
//
// The fake upstream (bench/pace-upstream.ts) runs in its own process. Parley and Portkey each
// run in theirs; the load generator is this process. On a 2-core machine the four share two cores,
// so under load some of any overhead is CPU contention, for every path alike.
//
//   bun bench/latency.ts                              (or `bun run bench` for everything)
//   PARLEY_BIN=/tmp/wt/dist/parley BENCH_RUNS=500 BENCH_SECONDS=10 bun bench/latency.ts
//
// Portkey is optional, from a scratch directory (PORTKEY_DIR, default /tmp/portkey). Its
// @hono/node-server must be pinned below 1.14: later ones hand Portkey the upstream's immutable
// Headers and every streamed reply fails with 500 (Portkey-AI/gateway#1389):
//   mkdir -p /tmp/portkey && cd /tmp/portkey && npm init -y && npm pkg set 'overrides.@hono/node-server=1.13.8' && npm install @portkey-ai/gateway
// Reading the figures: Portkey's stream handler waits 25 ms (a setTimeout) before relaying its
// first chunk, so ~25 ms of its TTFT is by design. Parley coalesces deltas that arrive while an
// append is in flight; a reply the upstream sends in one write can leave as one delta, and then
// its TTFT ≈ its time to last token.

import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type Redis from 'ioredis';
import OpenAI from 'openai';
import {
  apiPoster,
  ensureParley,
  fmt,
  machineLine,
  percentile,
  printTable,
  redisReachable,
  redisUrl,
  removeKeys,
  type Started,
  startTarget,
  tempDir,
} from './lib.ts';
import { TOKEN_TEXT } from './pace-upstream.ts';

const runs = Number(process.env.BENCH_RUNS ?? 300);
const warmups = 20;
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
const busySeconds = Number(process.env.BENCH_SECONDS ?? 5);
const longRuns = Number(process.env.BENCH_LONG_RUNS ?? 20);
const portkeyDir = process.env.PORTKEY_DIR ?? '/tmp/portkey';
const requestTimeoutMs = 30_000;
// One at a time: a short reply, so hundreds of samples fit in seconds.
const quietModel = 'pace-4-2';
// 50 at once: 1 s replies, so all 50 overlap and TTFT is measured while the others stream.
const busyModel = 'pace-50-20';
const busyReplyMs = 50 * 20;
// Relay rate: 2,000 tokens, all in one upstream write, so the relay is the only limit.
const longTokens = 2000;
const longModel = `pace-${longTokens}-0`;

/** ttfb: response headers (SDK) or first body bytes (Parley's SSE, which starts with `start`). */
type Timing = { ttfb: number; ttft: number; ttlt: number; tokens: number; ok: boolean };
/** `pid`: the relay's process (Parley or Portkey), whose CPU time is reported under load. */
type Path = { name: string; pid?: number; run(model: string): Promise<Timing> };
const failed = (): Timing => ({ ttfb: Number.NaN, ttft: Number.NaN, ttlt: Number.NaN, tokens: 0, ok: false });
const expectedTokens = (model: string) => Number(/^pace-(\d+)/.exec(model)![1]);

/** The baseline (and Portkey): the official SDK, counting content characters as tokens. */
function sdkPath(name: string, baseURL: string, defaultHeaders?: Record<string, string>): Path {
  const client = new OpenAI({ baseURL, apiKey: 'sk-fake', maxRetries: 0, timeout: requestTimeoutMs, defaultHeaders });
  return {
    name,
    async run(model) {
      const timing = failed();
      const started = performance.now();
      let chars = 0;
      let finished = false;
      try {
        const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }], stream: true });
        timing.ttfb = performance.now() - started;
        for await (const chunk of stream) {
          const content = chunk.choices[0]?.delta?.content;
          if (content) {
            timing.ttlt = performance.now() - started;
            if (chars === 0) timing.ttft = timing.ttlt;
            chars += content.length;
          }
          if (chunk.choices[0]?.finish_reason) finished = true;
        }
      } catch {
        return failed();
      }
      timing.tokens = chars / TOKEN_TEXT.length;
      timing.ok = finished && timing.tokens === expectedTokens(model);
      return timing;
    },
  };
}

/** Reads Parley's SSE reply to its end: first and last `delta` event, text length, `done`. */
async function readSse(response: Response, started: number, model: string): Promise<Timing> {
  const timing = failed();
  if (!response.ok || !response.body) return timing;
  const decoder = new TextDecoder();
  let buffered = '';
  let chars = 0;
  let done = false;
  for await (const chunk of response.body) {
    if (Number.isNaN(timing.ttfb)) timing.ttfb = performance.now() - started;
    buffered += decoder.decode(chunk, { stream: true });
    let from = 0;
    for (let end = buffered.indexOf('\n\n'); end >= 0; from = end + 2, end = buffered.indexOf('\n\n', from)) {
      const block = buffered.slice(from, end);
      if (block.includes('event: delta\n')) {
        const text = (JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { text: string }).text;
        timing.ttlt = performance.now() - started;
        if (chars === 0) timing.ttft = timing.ttlt;
        chars += text.length;
      } else if (block.includes('event: done\n')) done = true;
    }
    buffered = buffered.slice(from);
  }
  timing.tokens = chars / TOKEN_TEXT.length;
  timing.ok = done && timing.tokens === expectedTokens(model);
  return timing;
}

/** A registered user of one Parley process, and its two streaming routes. */
async function parleyPaths(server: Started, label: string): Promise<{ stateless: Path; stored: Path }> {
  const email = `bench-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const registered = await fetch(`${server.url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'bench-password-1', name: 'Bench' }),
  });
  if (!registered.ok) throw new Error(`register: ${registered.status} ${await registered.text()}`);
  const { accessToken } = (await registered.json()) as { accessToken: string };
  const post = apiPoster(server.url, accessToken, requestTimeoutMs);
  return {
    stateless: {
      name: `parley /chat/stream${label}`,
      pid: server.proc.pid,
      run: async (model) => {
        const started = performance.now();
        return post('/chat/stream', { message: 'hi', provider: 'openai', model }).then((r) => readSse(r, started, model), failed);
      },
    },
    stored: {
      name: `parley /chats/:id/messages${label}`,
      pid: server.proc.pid,
      // A fresh chat per reply, created before the clock starts, so history stays one turn.
      run: async (model) => {
        try {
          const { id } = (await (await post('/chats', { provider: 'openai', model })).json()) as { id: string };
          const started = performance.now();
          return await readSse(await post(`/chats/${id}/messages`, { content: 'hi', provider: 'openai', model }), started, model);
        } catch {
          return failed();
        }
      },
    },
  };
}

// Node's listen() patched to take HOST and PORT from the environment: Portkey's server takes
// only --port and listens on every interface, and startTarget hands a free port in PORT.
const listenOnEnvPort = `data:text/javascript,${encodeURIComponent(
  'import net from "node:net"; const listen = net.Server.prototype.listen;' +
    'net.Server.prototype.listen = function (port, host, ...rest) {' +
    ' return typeof port === "number" ? listen.call(this, Number(process.env.PORT), process.env.HOST, ...rest) : listen.call(this, port, host, ...rest); };',
)}`;

const versionOf = (dir: string) => {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
};

/** Portkey on a free loopback port, or why not. */
async function startPortkey(upstreamUrl: string): Promise<{ server: Started; path: Path; version: string } | string> {
  const modules = join(portkeyDir, 'node_modules');
  const entry = join(modules, '@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(entry)) return `not installed in ${portkeyDir} (see this file's header for the npm install line)`;
  const node = Bun.which('node');
  if (!node) return 'no `node` on PATH (Portkey runs on Node)';
  const version = `@portkey-ai/gateway ${versionOf(join(modules, '@portkey-ai/gateway'))}, @hono/node-server ${versionOf(join(modules, '@hono/node-server'))}, node ${Bun.spawnSync([node, '--version']).stdout.toString().trim()}`;
  // Portkey's own GET / answers 200 once it listens; --headless and production skip its web UI.
  const server = await startTarget({
    name: 'portkey',
    argv: [node, '--import', listenOnEnvPort, entry, '--headless'],
    env: { NODE_ENV: 'production' },
    healthPath: '/',
  });
  const headers = { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstreamUrl}/v1` };
  const path = sdkPath('portkey (openai SDK → portkey)', `${server.url}/v1`, headers);
  if ((await path.run(quietModel)).ok) return { server, path: { ...path, pid: server.proc.pid }, version };
  const probe = await fetch(`${server.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...headers, authorization: 'Bearer sk-fake', 'content-type': 'application/json' },
    body: JSON.stringify({ model: quietModel, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const why = `${version}: a streamed reply failed with ${probe.status} ${(await probe.text()).slice(0, 200)}`;
  await server.stop();
  const stderr = await new Response(server.proc.stderr).text();
  return stderr.includes('TypeError: immutable')
    ? `${why}; its log says "TypeError: immutable": pin @hono/node-server (Portkey-AI/gateway#1389, see the header)`
    : `${why}\n${stderr.slice(-1000)}`;
}

/** Each path in turn, `runs` times after `warmups`; interleaved so drift hits all alike. */
async function sequential(paths: Path[], model: string, count: number, warm: number): Promise<Timing[][]> {
  const results: Timing[][] = paths.map(() => []);
  for (let run = 0; run < warm + count; run++) {
    for (const [index, path] of paths.entries()) {
      const timing = await path.run(model);
      if (run >= warm) results[index]!.push(timing);
    }
  }
  return results;
}

/** CPU seconds (user + system) a process has used so far, from /proc; NaN if unknown. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100) ticks
  } catch {
    return Number.NaN;
  }
}

/** Starts measuring; the returned function gives each process's CPU use since, in % of one core. */
function cpuMeter(pids: (number | undefined)[]): () => number[] {
  const started = performance.now();
  const before = pids.map(cpuSeconds);
  return () => {
    const wallSeconds = (performance.now() - started) / 1000;
    return pids.map((pid, index) => ((cpuSeconds(pid) - before[index]!) / wallSeconds) * 100);
  };
}

type Busy = { timings: Timing[]; cpu: number[] };

/**
 * `concurrency` loops, each starting a reply as soon as its last one ended, their starts spread
 * evenly over one reply so about `concurrency` are always mid-stream. Replies started in the first
 * reply-length (the ramp) are not counted.
 */
async function busy(path: Path, upstreamPid: number): Promise<Busy> {
  const measureFrom = performance.now() + busyReplyMs;
  const deadline = measureFrom + busySeconds * 1000;
  const timings: Timing[] = [];
  const cpu = cpuMeter([process.pid, upstreamPid, path.pid]);
  await Promise.all(
    Array.from({ length: concurrency }, async (_, index) => {
      await Bun.sleep((index / concurrency) * busyReplyMs);
      while (performance.now() < deadline) {
        const started = performance.now();
        const timing = await path.run(busyModel);
        if (started >= measureFrom) timings.push(timing);
      }
    }),
  );
  return { timings, cpu: cpu() };
}

const signed = (value: number) => (Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(2)}` : '-');
const sorted = (values: number[]) => values.filter(Number.isFinite).sort((a, b) => a - b);

/** With `cpu` (load generator, fake, relay per path): also last-token p50 and CPU use. */
function ttftTable(title: string, paths: Path[], results: Timing[][], cpu?: number[][]): void {
  const [base] = results.map((timings) => sorted(timings.filter((t) => t.ok).map((t) => t.ttft)));
  const baseP50 = percentile(base!, 50);
  const baseP99 = percentile(base!, 99);
  const rows = [
    ['path', 'replies', 'failed', 'first byte p50', 'TTFT p50 ms', 'p99 ms', 'max ms', 'overhead p50', 'p99', 'target ≤1 / ≤5'],
  ];
  if (cpu) rows[0]!.push('last p50 ms', 'CPU% loadgen', 'fake', 'relay');
  const pct = (value: number | undefined) => (value !== undefined && Number.isFinite(value) ? value.toFixed(0) : '-');
  for (const [index, timings] of results.entries()) {
    const ttft = sorted(timings.filter((t) => t.ok).map((t) => t.ttft));
    const over50 = percentile(ttft, 50) - baseP50;
    const over99 = percentile(ttft, 99) - baseP99;
    const verdict = index === 0 ? '(baseline)' : `${over50 <= 1 ? 'met' : 'missed'} / ${over99 <= 5 ? 'met' : 'missed'}`;
    const ttfb = sorted(timings.filter((t) => t.ok).map((t) => t.ttfb));
    rows.push([
      paths[index]!.name,
      String(timings.length),
      String(timings.filter((t) => !t.ok).length),
      fmt.ms(percentile(ttfb, 50)),
      fmt.ms(percentile(ttft, 50)),
      fmt.ms(percentile(ttft, 99)),
      fmt.ms(ttft.at(-1) ?? Number.NaN),
      index === 0 ? '-' : signed(over50),
      index === 0 ? '-' : signed(over99),
      verdict,
    ]);
    if (cpu) rows.at(-1)!.push(fmt.ms(percentile(sorted(timings.filter((t) => t.ok).map((t) => t.ttlt)), 50)), ...cpu[index]!.map(pct));
  }
  printTable(title, rows);
}

function rateTable(title: string, paths: Path[], results: Timing[][]): void {
  const rate = (timings: Timing[]) => percentile(sorted(timings.filter((t) => t.ok).map((t) => t.tokens / (t.ttlt / 1000))), 50);
  const baseRate = rate(results[0]!);
  const rows = [['path', 'replies', 'failed', 'TTFT p50 ms', 'last token p50 ms', 'tokens/s p50', 'vs direct', 'target ±5%']];
  for (const [index, timings] of results.entries()) {
    const ok = timings.filter((t) => t.ok);
    const ratio = rate(timings) / baseRate;
    rows.push([
      paths[index]!.name,
      String(timings.length),
      String(timings.length - ok.length),
      fmt.ms(percentile(sorted(ok.map((t) => t.ttft)), 50)),
      fmt.ms(percentile(sorted(ok.map((t) => t.ttlt)), 50)),
      fmt.int(rate(timings)),
      index === 0 ? '-' : `${signed((ratio - 1) * 100)}%`,
      index === 0 ? '(baseline)' : ratio >= 0.95 ? 'met' : 'missed',
    ]);
  }
  printTable(title, rows);
}

export async function benchLatency(): Promise<void> {
  const parleyBin = await ensureParley();
  const stops: (() => Promise<void>)[] = [];
  let redis: Redis | undefined;
  const prefix = `bench:latency:${crypto.randomUUID().slice(0, 8)}:`;
  try {
    const upstream = await startTarget({ name: 'pace upstream', argv: [process.execPath, join(import.meta.dir, 'pace-upstream.ts')] });
    stops.push(upstream.stop);
    const parleyTarget = (extra: Record<string, string> = {}) => ({
      name: 'parley',
      argv: [parleyBin, 'serve'],
      env: {
        NODE_ENV: 'production',
        JWT_SECRET: 'bench-only-secret-'.padEnd(48, 'x'),
        RATE_LIMIT_ENABLED: 'false',
        LOG_LEVEL: 'warn',
        OPENAI_BASE_URL: `${upstream.url}/v1`,
        OPENAI_API_KEY: 'sk-fake',
        OPENAI_MODELS: [quietModel, busyModel, longModel].join(','),
        ...extra,
      },
    });
    const parley = await startTarget(parleyTarget(), tempDir('parley-bench-latency-'));
    stops.push(parley.stop);
    const local = await parleyPaths(parley, '');
    const paths: Path[] = [sdkPath('direct (openai SDK → fake)', `${upstream.url}/v1`), local.stateless, local.stored];

    redis = await redisReachable();
    if (redis) {
      const withRedis = await startTarget(
        parleyTarget({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix }),
        tempDir('parley-bench-latency-redis-'),
      );
      stops.push(withRedis.stop);
      paths.push((await parleyPaths(withRedis, ' +Redis')).stored);
    } else console.log(`\nRedis: nothing answers at ${redisUrl}; no Redis row.`);

    // Other work on the machine skews every row; the 1-minute load average says whether there was any.
    console.log(`\nLoad average (1 min) before the runs: ${loadavg()[0]!.toFixed(2)} on ${cpus().length} cores`);
    const portkey = await startPortkey(upstream.url);
    if (typeof portkey === 'string') console.log(`\nPortkey: skipped, ${portkey}`);
    else {
      stops.push(portkey.server.stop);
      paths.push(portkey.path);
      console.log(`\nPortkey: ${portkey.version}, custom host ${upstream.url}/v1`);
    }

    ttftTable(
      `TTFT, 1 reply at a time: ${quietModel} (${expectedTokens(quietModel)} tokens 2 ms apart), ${runs} runs each after ${warmups} warm-ups, interleaved; overhead = path − direct`,
      paths,
      await sequential(paths, quietModel, runs, warmups),
    );
    const busyResults: Busy[] = [];
    for (const path of paths) busyResults.push(await busy(path, upstream.proc.pid));
    ttftTable(
      `TTFT, ${concurrency} replies in flight: ${busyModel} (50 tokens 20 ms apart) for ${busySeconds} s per path after a ${busyReplyMs} ms ramp; CPU % of one core (${cpus().length} cores)`,
      paths,
      busyResults.map((b) => b.timings),
      busyResults.map((b) => b.cpu),
    );
    const rates = await sequential(paths, longModel, longRuns, 3);
    rateTable(
      `Relay rate: ${longModel} (${fmt.int(longTokens)} tokens in one upstream write), ${longRuns} runs each after 3 warm-ups, interleaved; tokens/s = tokens ÷ request→last token`,
      paths,
      rates,
    );
    console.log(`Load average (1 min) after the runs: ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    for (const stop of stops.reverse()) await stop();
    // After Parley stopped, so nothing writes under the prefix any more.
    if (redis) {
      console.log(`removed ${await removeKeys(redis, prefix)} Redis keys under ${prefix}`);
      redis.disconnect();
    }
  }
}

if (import.meta.main) {
  console.log(machineLine());
  await benchLatency();
  process.exit(0);
}
