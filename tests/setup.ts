// Preloaded before every test file (bunfig.toml). Suites here start servers, Postgres databases
// and the compiled executable; 5 s (bun's default) is too tight for those on a 2-core machine.
import { afterAll, setDefaultTimeout } from 'bun:test';
import { dropTestDatabases } from './helpers/services.ts';

setDefaultTimeout(30_000);

// In a preload script, afterAll runs once, after the last test file: the databases still being
// dropped, and the migrated template the suites copied theirs from, go then.
afterAll(() => dropTestDatabases());
