// Soak: a mixed, steady load on one Parley for BENCH_SOAK_SECONDS (default 300): logins, chat
// lists, stateless SSE replies, stored replies (own chat, deleted after), SSE resumes with
// Last-Event-ID, and websockets sending replies and reconnecting. Parley's RSS is sampled every
// 5 s; the figure to watch is the RSS floor (lowest sample) in the first minute after warm-up
// against the last minute under load (target: under 10% growth; single samples jump by up to
// 64 MiB while a login's argon2id hash runs), then errors (target 0) and, once the load stopped,
// what Parley still holds (the /metrics gauges of replies, readers and sockets should be 0).
// Three processes: Parley, bench/pace-upstream.ts, bench/soak-client.ts.
//
// STREAM_TTL_SECONDS is 30 here (default 3600): a finished reply stays replayable that long, so
// with the default the soak would mostly measure an hour of retained buffers growing by design.
// With 30 s (and the in-memory KV's 30 s sweep) that set is steady from about 60 s on, hence the
// 60 s warm-up.
//
//   bun bench/soak.ts                                  (5 minutes)
//   BENCH_SOAK_SECONDS=60 PARLEY_BIN=/tmp/wt/dist/parley bun bench/soak.ts
//   BENCH_SOAK=1 bun run bench                         (run.ts includes it only then)
import { join } from 'node:path';
import { ensureParley, fmt, machineLine, printTable, procStatusKb, startTarget, tempDir } from './lib.ts';
import {
  connectionCapNote,
  cpuSeconds,
  parleyLoadTarget,
  registerUsers,
  resetPeakRss,
  runLoadChild,
  spawnPaceUpstream,
} from './load-harness.ts';
import { parsePace } from './pace-upstream.ts';
import type { SoakJob, SoakResult } from './soak-client.ts';

const seconds = Number(process.env.BENCH_SOAK_SECONDS ?? 300);
const warmupSeconds = Math.min(Number(process.env.BENCH_SOAK_WARMUP ?? 60), seconds / 2);
const sampleMs = 5000;
const model = 'pace-8-250';
// Replies/s of each path; each reply lasts ~1.75 s, so about 20 are in flight at any time.
const rates: SoakJob['rates'] = { login: 0.5, list: 5, stream: 4, stored: 2, resume: 1, wsReplies: 3 };
const sockets = 24;

/** The /metrics gauges that should drop to 0 once nothing is running. */
async function gauges(url: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const match of text.matchAll(/^(parley_(?:generations_active|stream_readers|websockets_open)) (\S+)$/gm))
    out[match[1]!] = Number(match[2]);
  return out;
}

export async function benchSoak(): Promise<void> {
  const parleyPath = await ensureParley();
  console.log(`\n${connectionCapNote(parleyPath)}`);
  const fake = await spawnPaceUpstream();
  const server = await startTarget(
    parleyLoadTarget(parleyPath, fake, [model], { STREAM_TTL_SECONDS: '30' }),
    tempDir('parley-bench-soak-'),
    30_000,
  );
  const samples: { at: number; kb: number }[] = [];
  let timer: Timer | undefined;
  try {
    const users = await registerUsers(server.url, 4, 'soak');
    const job: SoakJob = { url: server.url, users, seconds, model, tokens: parsePace(model)!.tokens, rates, sockets };
    let started = 0;
    let cpuAtStart = 0;
    let underLoad = 0; // samples taken before the client stopped starting requests
    const sample = () =>
      samples.push({ at: (performance.now() - started) / 1000, kb: procStatusKb(server.proc.pid, 'VmRSS') ?? Number.NaN });
    console.error(`soak: ${seconds} s ...`);
    const { result } = await runLoadChild<SoakResult>(join(import.meta.dir, 'soak-client.ts'), job, (phase) => {
      if (phase === 'stop') underLoad = samples.length;
      if (phase !== 'go') return;
      started = performance.now();
      resetPeakRss(server.proc.pid); // drop the registrations' argon2 peak
      cpuAtStart = cpuSeconds(server.proc.pid);
      sample();
      timer = setInterval(sample, sampleMs);
    });
    clearInterval(timer);
    const parleyCpu = (cpuSeconds(server.proc.pid) - cpuAtStart) / ((performance.now() - started) / 1000);
    sample();
    await Bun.sleep(2000); // sockets closed by the client: let Parley run its close handlers
    const after = await gauges(server.url).catch(async () => {
      // Parley is gone: say how, since every figure after the exit is moot.
      const exit = server.proc.exitCode ?? server.proc.signalCode;
      const stderr = exit === null ? '' : (await new Response(server.proc.stderr).text()).slice(-2000);
      console.log(`\nParley does not answer /metrics (exit: ${exit ?? 'still running'})${stderr ? `; stderr tail:\n${stderr}` : ''}`);
      return {} as Record<string, number>;
    });

    // One row per minute, one column per 5 s sample, then the minute's floor and ceiling.
    const perRow = 60_000 / sampleMs;
    const loaded = samples.slice(0, underLoad);
    const timeline = [['min', ...Array.from({ length: perRow }, (_, i) => `+${(i * sampleMs) / 1000}s`), 'floor', 'ceiling']];
    for (let i = 0; i < loaded.length; i += perRow) {
      const minute = loaded.slice(i, i + perRow).map((s) => s.kb);
      timeline.push([
        String(i / perRow),
        ...minute.map(fmt.kbAsMb),
        ...Array(perRow - minute.length).fill(''),
        fmt.kbAsMb(Math.min(...minute)),
        fmt.kbAsMb(Math.max(...minute)),
      ]);
    }
    printTable(`Soak: Parley RSS MB every ${sampleMs / 1000} s under load`, timeline);

    // Compared by floors: a login's argon2id hash holds 64 MiB while it runs, so single samples
    // jump by up to that much depending on whether one was in flight.
    const window = (from: number) => {
      const kbs = loaded.filter((s) => s.at >= from && s.at < from + 60).map((s) => s.kb);
      return kbs.length ? kbs : loaded.map((s) => s.kb); // a soak too short for two windows
    };
    const warm = window(warmupSeconds);
    const lastAt = loaded.at(-1)!.at;
    const end = window(Math.max(warmupSeconds, lastAt - 55));
    const floorGrowth = ((Math.min(...end) - Math.min(...warm)) / Math.min(...warm)) * 100;
    const ceilingGrowth = ((Math.max(...end) - Math.max(...warm)) / Math.max(...warm)) * 100;
    const rows = [['kind', 'per s', 'requests', 'errors', 'skipped', 'p50 ms', 'p99 ms']];
    let errors = 0;
    for (const [name, stats] of Object.entries(result.kinds)) {
      errors += stats.errors;
      const rate = rates[name as keyof SoakJob['rates']];
      rows.push([
        name,
        rate === undefined ? '-' : String(rate),
        fmt.int(stats.count),
        String(stats.errors),
        String(stats.skipped),
        fmt.ms(stats.p50),
        fmt.ms(stats.p99),
      ]);
    }
    printTable(`Soak: ${seconds} s of mixed load (${model}, ${sockets} websockets on ${users.length} users, STREAM_TTL_SECONDS=30)`, rows);
    const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)}%`;
    console.log(
      `RSS floor, first minute after the ${warmupSeconds} s warm-up → last minute under load: ${fmt.kbAsMb(Math.min(...warm))} → ${fmt.kbAsMb(Math.min(...end))} MB, ${signed(floorGrowth)} (target < 10%); ceiling ${fmt.kbAsMb(Math.max(...warm))} → ${fmt.kbAsMb(Math.max(...end))} MB, ${signed(ceilingGrowth)}`,
    );
    console.log(
      `  once the load stopped and sockets closed: ${fmt.kbAsMb(samples.at(-1)!.kb)} MB; VmHWM under load ${fmt.kbAsMb(procStatusKb(server.proc.pid, 'VmHWM'))} MB`,
    );
    console.log(`errors: ${errors} (target 0)${result.errorSamples.length ? `; first: ${result.errorSamples.join(' | ')}` : ''}`);
    console.log(
      `Parley CPU during the load: ${Math.round(parleyCpu * 100)}% of one core; after it, still held: ${
        Object.entries(after)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ') || '(no gauges)'
      }`,
    );
  } finally {
    clearInterval(timer);
    await server.stop();
    await fake.stop();
  }
}

if (import.meta.main) {
  console.log(machineLine());
  await benchSoak();
  process.exit(0);
}
