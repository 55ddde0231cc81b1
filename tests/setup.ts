// Preloaded before every test file (bunfig.toml). Suites here start servers, Postgres databases
// and the compiled executable; 5 s (bun's default) is too tight for those on a 2-core machine.
import { setDefaultTimeout } from 'bun:test';

setDefaultTimeout(30_000);
