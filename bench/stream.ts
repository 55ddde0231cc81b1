// Streaming: time to first and last token of a 300-word reply (`fake-long`), straight from a fake
// OpenAI upstream with the official SDK (the baseline) and through dist/parley, stateless and
// stored; then 32 concurrent replies; then, if a Redis is on 127.0.0.1:6379, what Redis stream
// buffers add. The fake upstream and the load generator share this process's one JS thread, in
// the baseline as behind Parley, so read the overhead columns rather than the absolute figures.
// The fake sends all 300 words at once; when Parley relays them faster than in real time, the
// deltas can leave in one socket write, and then TTFT ≈ time to last token for that path.
//
//   bun bench/stream.ts              (or `bun run bench` for everything)
//   BENCH_RUNS=50 BENCH_ROUNDS=10 bun bench/stream.ts

import OpenAI from 'openai';
import { startFakeUpstream } from '../tests/fakes/llm-upstream.ts';
import {
  apiPoster,
  ensureParley,
  fmt,
  machineLine,
  percentile,
  printTable,
  procStatusKb,
  redisReachable,
  redisUrl,
  removeKeys,
  type Started,
  startTarget,
  summary,
  tempDir,
} from './lib.ts';

const runs = Number(process.env.BENCH_RUNS ?? 30);
const warmups = 3;
const concurrency = 32;
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const requestTimeoutMs = 30_000;
const model = 'fake-long';

type Timing = { ttft: number; ttlt: number; deltas: number; ok: boolean };
type Runner = () => Promise<Timing>;
const failed: Timing = { ttft: Number.NaN, ttlt: Number.NaN, deltas: 0, ok: false };

/** Reads an SSE body to its end, timing the first and last `delta` event from `started`. */
async function readSse(response: Response, started: number): Promise<Timing> {
  if (!response.ok || !response.body) return failed;
  const decoder = new TextDecoder();
  const timing: Timing = { ...failed };
  let buffered = '';
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk, { stream: true });
    // Walk events by index and cut the string once per read: a reply arrives as one 17 kB read.
    let from = 0;
    for (let end = buffered.indexOf('\n\n'); end >= 0; from = end + 2, end = buffered.indexOf('\n\n', from)) {
      const at = buffered.indexOf('event: ', from);
      const event = at >= 0 && at < end ? buffered.slice(at + 7, buffered.indexOf('\n', at)) : '';
      if (event === 'delta') {
        timing.ttlt = performance.now() - started;
        if (timing.deltas++ === 0) timing.ttft = timing.ttlt;
      } else if (event === 'done') timing.ok = true;
    }
    buffered = buffered.slice(from);
  }
  return timing;
}

/** The baseline: the official SDK reading the fake upstream directly. */
function sdkRunner(baseURL: string): Runner {
  const client = new OpenAI({ baseURL, apiKey: 'sk-bench', maxRetries: 0, timeout: requestTimeoutMs });
  return async () => {
    const started = performance.now();
    const timing: Timing = { ...failed };
    try {
      const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'bench' }], stream: true });
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta?.content) {
          timing.ttlt = performance.now() - started;
          if (timing.deltas++ === 0) timing.ttft = timing.ttlt;
        }
        if (chunk.choices[0]?.finish_reason) timing.ok = true;
      }
    } catch {
      timing.ok = false; // counted as failed
    }
    return timing;
  };
}

/** A guest of one Parley process, and its two streaming routes. */
async function parleyClient(server: Started) {
  const guest = await fetch(`${server.url}/api/v1/auth/guest`, { method: 'POST', signal: AbortSignal.timeout(requestTimeoutMs) });
  const { accessToken } = (await guest.json()) as { accessToken: string };
  const post = apiPoster(server.url, accessToken, requestTimeoutMs);
  const attempt =
    (run: Runner): Runner =>
    () =>
      run().catch(() => failed);
  const stateless: Runner = attempt(async () => {
    const started = performance.now();
    return readSse(await post('/chat/stream', { message: 'bench', provider: 'openai', model }), started);
  });
  const newChat = async () => ((await (await post('/chats', { provider: 'openai', model })).json()) as { id: string }).id;
  // A fresh chat per reply, created outside the timing, so the history sent upstream stays one turn.
  const storedIn = (id: string): Runner =>
    attempt(async () => {
      const started = performance.now();
      return readSse(await post(`/chats/${id}/messages`, { content: 'bench', provider: 'openai', model }), started);
    });
  const stored: Runner = attempt(async () => storedIn(await newChat())());
  return { stateless, stored, newChat, storedIn };
}

/** Runs each runner in turn, `runs` times after `warmups`; interleaved so drift hits all alike. */
async function series(runners: Runner[]): Promise<Timing[][]> {
  const results: Timing[][] = runners.map(() => []);
  for (let run = 0; run < warmups + runs; run++) {
    for (const [index, runner] of runners.entries()) {
      const timing = await runner();
      if (run >= warmups) results[index]!.push(timing);
    }
  }
  return results;
}

const signed = (value: number) => (Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(2)}` : '-');
const okOnly = (timings: Timing[], key: 'ttft' | 'ttlt') => timings.filter((t) => t.ok).map((t) => t[key]);

function latencyTable(title: string, names: string[], results: Timing[][]): void {
  const base = { ttft: summary(okOnly(results[0]!, 'ttft')).median, ttlt: summary(okOnly(results[0]!, 'ttlt')).median };
  const rows = [['path', 'TTFT min', 'median', 'p90', 'vs base ms', 'last min', 'median', 'p90', 'vs base ms', 'deltas', 'failed']];
  for (const [index, timings] of results.entries()) {
    const ttft = summary(okOnly(timings, 'ttft'));
    const ttlt = summary(okOnly(timings, 'ttlt'));
    const deltas = summary(timings.map((t) => t.deltas)).median;
    rows.push([
      names[index]!,
      fmt.ms(ttft.min),
      fmt.ms(ttft.median),
      fmt.ms(ttft.p90),
      signed(ttft.median - base.ttft),
      fmt.ms(ttlt.min),
      fmt.ms(ttlt.median),
      fmt.ms(ttlt.p90),
      signed(ttlt.median - base.ttlt),
      String(deltas),
      String(timings.filter((t) => !t.ok).length),
    ]);
  }
  printTable(title, rows);
}

type Burst = { timings: Timing[]; wallMs: number };

/** `rounds` bursts of `concurrency` simultaneous replies; `prepare` makes each burst's runners untimed. */
async function bursts(prepare: () => Promise<Runner[]>): Promise<Burst> {
  const timings: Timing[] = [];
  let wallMs = 0;
  for (let round = 0; round <= rounds; round++) {
    const runners = await prepare();
    const started = performance.now();
    const burst = await Promise.all(runners.map((run) => run()));
    if (round === 0) continue; // warm-up round
    wallMs += performance.now() - started;
    timings.push(...burst);
  }
  return { timings, wallMs };
}

/** Samples VmRSS every 50 ms until stopped (this thread is busy under load, so samples may slip). */
function rssSampler(pid: number): () => number | undefined {
  let peak: number | undefined;
  const sample = () => {
    const kb = procStatusKb(pid, 'VmRSS');
    if (kb !== undefined) peak = Math.max(peak ?? 0, kb);
  };
  sample();
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    return peak;
  };
}

export async function benchStream(): Promise<void> {
  const parleyPath = await ensureParley();
  const upstream = await startFakeUpstream();
  const parleyEnv = (extra: Record<string, string> = {}) => ({
    name: 'parley',
    argv: [parleyPath, 'serve'],
    env: {
      NODE_ENV: 'production',
      JWT_SECRET: 'bench-only-secret-'.padEnd(48, 'x'),
      LOG_LEVEL: 'warn',
      RATE_LIMIT_ENABLED: 'false',
      OPENAI_BASE_URL: upstream.openaiBaseURL,
      OPENAI_API_KEY: 'sk-bench',
      DEFAULT_PROVIDER: 'openai',
      ...extra,
    },
  });
  const server = await startTarget(parleyEnv(), tempDir('parley-bench-stream-'));
  try {
    const sdk = sdkRunner(upstream.openaiBaseURL);
    const parley = await parleyClient(server);

    const names = ['(a) openai SDK → fake (baseline)', '(b) parley POST /chat/stream', '(c) parley POST /chats/:id/messages'];
    latencyTable(
      `Streaming: ${model} (300 words), ${runs} runs each after ${warmups} warm-ups, interleaved; ms from request to first / last delta`,
      names,
      await series([sdk, parley.stateless, parley.stored]),
    );

    const idleRss = procStatusKb(server.proc.pid, 'VmRSS');
    const direct = await bursts(async () => Array.from({ length: concurrency }, () => sdk));
    const stopSampling = rssSampler(server.proc.pid);
    const viaParley = await bursts(async () =>
      (await Promise.all(Array.from({ length: concurrency }, parley.newChat))).map(parley.storedIn),
    );
    const peakRss = stopSampling();
    const rows = [['path', 'replies/s', 'vs base', 'TTFT p50 ms', 'p99 ms', 'last p50 ms', 'failed', 'RSS idle → peak MB']];
    const baseRate = direct.timings.filter((t) => t.ok).length / (direct.wallMs / 1000);
    for (const [name, burst, rss] of [
      ['openai SDK → fake (baseline)', direct, '-'],
      ['parley POST /chats/:id/messages', viaParley, `${fmt.kbAsMb(idleRss)} → ${fmt.kbAsMb(peakRss)}`],
    ] as const) {
      const ok = burst.timings.filter((t) => t.ok);
      const ttft = ok.map((t) => t.ttft).sort((a, b) => a - b);
      const rate = ok.length / (burst.wallMs / 1000);
      rows.push([
        name,
        fmt.int(rate),
        fmt.ratio(rate, baseRate),
        fmt.ms(percentile(ttft, 50)),
        fmt.ms(percentile(ttft, 99)),
        fmt.ms(summary(ok.map((t) => t.ttlt)).median),
        String(burst.timings.length - ok.length),
        rss,
      ]);
    }
    printTable(
      `Concurrency: ${concurrency} simultaneous ${model} replies (each its own chat) × ${rounds} rounds after 1 warm-up round; parley RSS sampled every 50 ms`,
      rows,
    );

    const redis = await redisReachable();
    if (!redis) {
      console.log(`\nRedis: nothing answers at ${redisUrl}; skipped the Redis stream-buffer run.`);
      return;
    }
    const prefix = `bench:${crypto.randomUUID().slice(0, 8)}:`;
    try {
      const withRedis = await startTarget(
        parleyEnv({ REDIS_URL: redisUrl, REDIS_KEY_PREFIX: prefix }),
        tempDir('parley-bench-stream-redis-'),
      );
      try {
        const redisParley = await parleyClient(withRedis);
        latencyTable(
          `Redis stream buffers: POST /chat/stream, ${runs} runs each after ${warmups} warm-ups, interleaved (vs base = vs in-memory KV)`,
          ['(b) parley, in-memory KV', `(b) parley, REDIS_URL (prefix ${prefix})`],
          await series([parley.stateless, redisParley.stateless]),
        );
      } finally {
        await withRedis.stop();
      }
    } finally {
      // After parley stopped, so nothing writes under the prefix any more.
      console.log(`removed ${await removeKeys(redis, prefix)} Redis keys under ${prefix}`);
      redis.disconnect();
    }
  } finally {
    await server.stop();
    await upstream.stop();
  }
}

if (import.meta.main) {
  console.log(machineLine());
  await benchStream();
  process.exit(0);
}
