// Startup: executable size, time from spawn to the first 200 on /health, and resident memory once
// idle, for dist/parley beside a bare Bun.serve compiled the same way. Cold starts matter on Fly
// (machines stop when idle and start on the next request), and RSS decides the machine size.
//
//   bun bench/startup.ts            (or `bun run bench` for everything)
//   BENCH_RUNS=20 bun bench/startup.ts
import { statSync } from 'node:fs';
import { fmt, machineLine, printTable, procStatusKb, startTarget, summary, type Target, targets, tempDir } from './lib.ts';

const runs = Number(process.env.BENCH_RUNS ?? 10);
const requestsBeforeRss = 20;

type Measured = { name: string; sizeBytes: number; startMs: number[]; rssKb: number[] };

async function measure(name: string, target: Target, dataDirFor: (run: number) => string | undefined): Promise<Measured> {
  const startMs: number[] = [];
  const rssKb: number[] = [];
  for (let run = 0; run < runs; run++) {
    const server = await startTarget(target, dataDirFor(run));
    try {
      startMs.push(server.msToFirst200);
      // "Idle after a few requests": what a machine holds between bursts of traffic.
      for (let i = 0; i < requestsBeforeRss; i++) await (await fetch(`${server.url}/health`)).arrayBuffer();
      await Bun.sleep(200);
      const rss = procStatusKb(server.proc.pid, 'VmRSS');
      if (rss !== undefined) rssKb.push(rss);
    } finally {
      await server.stop();
    }
  }
  return { name, sizeBytes: statSync(target.argv[0]!).size, startMs, rssKb };
}

export async function benchStartup(): Promise<void> {
  const { parley, baseline } = await targets();
  // A fresh DATA_DIR each run is a first boot (creates SQLite, applies every migration); reusing
  // one is the usual restart (e.g. a stopped Fly machine waking up).
  const warmDir = tempDir('parley-bench-warm-');
  const results = [
    await measure('parley, fresh DATA_DIR', parley, () => tempDir('parley-bench-fresh-')),
    await measure('parley, existing DATA_DIR', parley, () => warmDir),
    await measure('bare Bun.serve (baseline)', baseline, () => undefined),
  ];
  const base = results.at(-1)!;
  const baseMedian = summary(base.startMs).median;
  const baseRss = summary(base.rssKb).median;

  const rows = [['process', 'size MB', 'start min ms', 'median ms', 'p90 ms', 'vs base', 'idle RSS MB', 'vs base']];
  for (const result of results) {
    const start = summary(result.startMs);
    const rss = summary(result.rssKb).median;
    rows.push([
      result.name,
      fmt.mb(result.sizeBytes),
      fmt.ms(start.min),
      fmt.ms(start.median),
      fmt.ms(start.p90),
      fmt.ratio(start.median, baseMedian),
      fmt.kbAsMb(Number.isNaN(rss) ? undefined : rss),
      fmt.ratio(rss, baseRss),
    ]);
  }
  printTable(
    `Startup: spawn → first 200 on GET /health (${runs} runs each, polled every 2 ms); RSS after ${requestsBeforeRss} requests + 200 ms idle (median)`,
    rows,
  );
}

if (import.meta.main) {
  console.log(machineLine());
  await benchStartup();
  process.exit(0);
}
