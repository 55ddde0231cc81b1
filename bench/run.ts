// `bun run bench`: every benchmark in turn, each printing a table beside its baseline.
// Figures only, no pass/fail: compare ratios across commits on the same machine.
import { benchConcurrency } from './concurrency.ts';
import { benchHttp } from './http.ts';
import { benchLatency } from './latency.ts';
import { machineLine } from './lib.ts';
import { benchReads } from './reads.ts';
import { benchSoak } from './soak.ts';
import { benchStartup } from './startup.ts';
import { benchStream } from './stream.ts';

const started = performance.now();
console.log(`Parley benchmarks · ${machineLine()}`);
await benchStartup();
await benchHttp();
await benchReads();
await benchStream();
await benchLatency();
await benchConcurrency();
// Five minutes by default: only when asked.
if (process.env.BENCH_SOAK === '1') await benchSoak();
console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
// Keep-alive sockets from the load generator would otherwise hold the process open a while.
process.exit(0);
