// Concurrency: N replies at once on one Parley instance, each `pace-8-500` (8 tokens 500 ms apart,
// first at once: the upstream's own time is 3.5 s), through POST /api/v1/chat/stream (SSE, spread
// over a handful of registered users), then through N websockets each running one chat.send
// (one guest and one chat per socket), at a small N and at the full N.
// Three processes: Parley, bench/pace-upstream.ts, and bench/load-client.ts as the clients; a
// fresh Parley (temp SQLite DATA_DIR) per row, its VmHWM reset when the timed part starts.
//
// Columns: wall = all requests sent → last `done` read, vs the upstream's own time; TTFT = a
// request sent → its first token read (the pace's ideal is 0, so all of it is overhead: accept,
// auth, stream setup, upstream connect, relay); last late = how much later than the ideal 3.5 s
// after sending the last token came. CPU = CPU seconds each process used in the timed part / wall.
//
//   bun bench/concurrency.ts
//   BENCH_REPLIES=2000 BENCH_REPLIES_SMALL=500 PARLEY_BIN=/tmp/wt/dist/parley bun bench/concurrency.ts
//   BENCH_MODES=sse bun bench/concurrency.ts         (sse, ws, or both: sse,ws)
import { join } from 'node:path';
import { ensureParley, fmt, machineLine, printTable, procStatusKb, startTarget, tempDir } from './lib.ts';
import type { ClientJob, ClientResult, Stats } from './load-client.ts';
import {
  connectionCapNote,
  cpuSeconds,
  type FakeUpstreamProcess,
  listenOverflows,
  machineCpu,
  openFds,
  parleyLoadTarget,
  registerUsers,
  resetPeakRss,
  runLoadChild,
  spawnPaceUpstream,
} from './load-harness.ts';
import { parsePace } from './pace-upstream.ts';

const fullN = Number(process.env.BENCH_REPLIES ?? 8000);
const smallN = Number(process.env.BENCH_REPLIES_SMALL ?? 1000);
const modes = (process.env.BENCH_MODES ?? 'sse,ws').split(',') as ClientJob['mode'][];
const model = 'pace-8-500';
const warmModel = 'pace-2-10';
const users = 8;

type Row = {
  mode: ClientJob['mode'];
  result: ClientResult;
  peakKb?: number;
  idleKb?: number;
  cpu: { parley: number; fake: number; client: number; parent: number; others: number; irq: number; steal: number };
  overflows: number;
  upstreamPeak: number;
  parleyCpuS: number;
};

async function runRow(parleyPath: string, fake: FakeUpstreamProcess, mode: ClientJob['mode'], n: number): Promise<Row> {
  const server = await startTarget(parleyLoadTarget(parleyPath, fake, [model, warmModel]), tempDir('parley-bench-conc-'), 30_000);
  try {
    const { tokens, ms } = parsePace(model)!;
    const accessTokens = mode === 'sse' ? (await registerUsers(server.url, users)).map((u) => u.accessToken) : [];
    let idleKb: number | undefined;
    const job: ClientJob = { mode, url: server.url, n, model, tokens, ms, users: accessTokens, timeoutMs: 120_000, warmModel };
    let before = { parley: 0, fake: 0, parent: process.cpuUsage(), machine: machineCpu(), overflows: 0, at: 0 };
    // Open connections Parley → upstream (the fake's descriptors beyond its idle count), sampled
    // every 250 ms: shows whether the 256 cap was lifted. Cheap, unlike walking /proc/net/tcp.
    const idleFds = openFds(fake.pid);
    let upstreamPeak = 0;
    let sampler: Timer | undefined;
    const { result } = await runLoadChild<ClientResult>(join(import.meta.dir, 'load-client.ts'), job, (phase) => {
      if (phase !== 'go') return;
      idleKb = procStatusKb(server.proc.pid, 'VmRSS');
      resetPeakRss(server.proc.pid); // the peak of the timed part (sockets and chats of the setup are still held)
      before = {
        parley: cpuSeconds(server.proc.pid),
        fake: cpuSeconds(fake.pid),
        parent: process.cpuUsage(),
        machine: machineCpu(),
        overflows: listenOverflows(),
        at: performance.now(),
      };
      sampler = setInterval(() => (upstreamPeak = Math.max(upstreamPeak, openFds(fake.pid) - idleFds)), 250);
    });
    clearInterval(sampler);
    // From "go" to the child's exit; the child measures its own share (it is gone by now). This
    // process is `parent`; anything else running on the machine is `others`.
    const seconds = (performance.now() - before.at) / 1000;
    const parleyCpuS = cpuSeconds(server.proc.pid) - before.parley;
    const parley = parleyCpuS / seconds;
    const fakeShare = (cpuSeconds(fake.pid) - before.fake) / seconds;
    const machine = machineCpu();
    const parentUsage = process.cpuUsage(before.parent);
    const parent = (parentUsage.user + parentUsage.system) / 1e6 / seconds;
    const others = (machine.processes - before.machine.processes) / seconds - parley - fakeShare - result.cpu - parent;
    const cpu = {
      parley,
      fake: fakeShare,
      client: result.cpu,
      parent,
      others,
      irq: (machine.irq - before.machine.irq) / seconds,
      steal: (machine.steal - before.machine.steal) / seconds,
    };
    return {
      mode,
      result,
      peakKb: procStatusKb(server.proc.pid, 'VmHWM'),
      idleKb,
      cpu,
      overflows: listenOverflows() - before.overflows,
      upstreamPeak,
      parleyCpuS,
    };
  } finally {
    await server.stop();
  }
}

const stat = (s: Stats) => `${fmt.int(s.p50)} / ${fmt.int(s.p99)}`;

export async function benchConcurrency(): Promise<void> {
  const parleyPath = await ensureParley();
  const { tokens, ms } = parsePace(model)!;
  const ownMs = (tokens - 1) * ms;
  console.log(`\n${connectionCapNote(parleyPath)}`);
  const fake = await spawnPaceUpstream();
  const rows: Row[] = [];
  try {
    for (const mode of modes) {
      for (const n of [...new Set([smallN, fullN])]) {
        console.error(`concurrency: ${mode} × ${n} ...`);
        rows.push(await runRow(parleyPath, fake, mode, n));
      }
    }
  } finally {
    await fake.stop();
  }
  const name = (mode: ClientJob['mode']) => (mode === 'sse' ? 'POST /chat/stream (SSE)' : 'websocket chat.send');
  const table = [
    ['path', 'N', 'completed', 'errors', 'wall s', 'vs own', 'TTFT p50 / p99 ms', 'last late p50 / p99 ms', 'RSS at go → peak MB'],
  ];
  // at go: set up (users, connections, chats) and idle; peak: VmHWM of the timed part.
  const where = [
    [
      'path',
      'N',
      'setup s',
      'parley CPU ms/reply',
      'CPU parley',
      'fake',
      'client',
      'parent',
      'others',
      'irq',
      'steal',
      'upstream conns peak',
      'listen overflows',
      'ws frames not the reply',
    ],
  ];
  const pct = (share: number) => `${Math.round(share * 100)}%`;
  for (const { mode, result: r, peakKb, idleKb, cpu, overflows, upstreamPeak, parleyCpuS } of rows) {
    const errors =
      Object.entries(r.errors)
        .map(([k, v]) => `${v} ${k}`)
        .join(', ') || '0';
    const wall = (r.wallMs / 1000).toFixed(2);
    table.push([
      name(mode),
      fmt.int(r.n),
      r.completed === r.n ? 'all' : fmt.int(r.completed),
      errors,
      wall,
      fmt.ratio(r.wallMs, ownMs),
      stat(r.ttft),
      stat(r.lastLate),
      `${fmt.kbAsMb(idleKb)} → ${fmt.kbAsMb(peakKb)}`,
    ]);
    where.push([
      name(mode),
      fmt.int(r.n),
      (r.setupMs / 1000).toFixed(1),
      fmt.ms((parleyCpuS * 1000) / r.n),
      pct(cpu.parley),
      pct(cpu.fake),
      pct(cpu.client),
      pct(cpu.parent),
      pct(cpu.others),
      pct(cpu.irq),
      pct(cpu.steal),
      fmt.int(upstreamPeak),
      String(overflows),
      mode === 'ws' ? fmt.int(r.otherFrames) : '-',
    ]);
  }
  printTable(
    `Concurrency: N × ${model} at once (upstream's own time ${ownMs / 1000} s); targets: wall ≤ 1.5×, first-token p99 ≤ 100 ms, peak RSS ≤ 1 GB`,
    table,
  );
  for (const { mode, result: r } of rows)
    if (r.errorSamples.length) console.log(`${name(mode)} × ${fmt.int(r.n)} errors, first: ${r.errorSamples.join(' | ')}`);
  printTable(
    'Where the time went in the timed part: CPU as a share of one core (2 cores in all; irq: kernel interrupts, mostly loopback TCP; steal: hypervisor); listen overflows are kernel-wide',
    where,
  );
}

if (import.meta.main) {
  console.log(machineLine());
  await benchConcurrency();
  process.exit(0);
}
