// Preloaded before every test file (bunfig.toml). Suites here start servers, Postgres databases
// and the compiled executable; 5 s (bun's default) is too tight for those on a 2-core machine.
import { afterAll, setDefaultTimeout } from 'bun:test';
import { dropTemplateDatabase } from './helpers/services.ts';

setDefaultTimeout(30_000);

// In a preload script, afterAll runs once, after the last test file: the migrated template
// database the suites copied theirs from goes then.
afterAll(() => dropTemplateDatabase());
