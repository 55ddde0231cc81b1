// `bun run bench`: every benchmark in turn, each printing a table beside its baseline.
// Figures only, no pass/fail: compare ratios across commits on the same machine.
import { benchHttp } from './http.ts';
import { machineLine } from './lib.ts';
import { benchStartup } from './startup.ts';
import { benchStream } from './stream.ts';

const started = performance.now();
console.log(`Parley benchmarks · ${machineLine()}`);
await benchStartup();
await benchHttp();
await benchStream();
console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`);
// Keep-alive sockets from the load generator would otherwise hold the process open a while.
process.exit(0);
