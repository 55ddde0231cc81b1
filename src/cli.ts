#!/usr/bin/env bun
import { type Config, ConfigError, parseConfig, readProcessEnv } from './config/index.ts';
import { serve } from './index.ts';
import { openDatabase } from './infra/db/index.ts';
import { createLogger } from './infra/log/index.ts';
import { version } from './version.ts';

const help = `parley ${version}: AI chat backend in one executable

Usage:
  parley [serve]     start the HTTP server (the default)
  parley migrate     apply database migrations and exit
  parley --help      show this help
  parley --version   print the version

Configuration comes from environment variables (and a .env file in the working
directory): PORT, HOST, DATA_DIR, DATABASE_URL, REDIS_URL, JWT_SECRET, … — see README.md.
With none set it serves on port 3000 with SQLite in ./data and the echo provider.
`;

function loadConfigOrExit(): Config {
  try {
    return parseConfig(readProcessEnv());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`parley: invalid configuration: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function migrate(config: Config) {
  const log = createLogger(config.logLevel);
  const db = openDatabase(config);
  try {
    const applied = await db.migrate();
    log.info('migrations up to date', { applied, database: db.kind });
  } finally {
    await db.close();
  }
}

async function main(args: string[]) {
  const [command = 'serve', ...rest] = args;
  if (command === '--help' || command === '-h' || command === 'help') return void process.stdout.write(help);
  if (command === '--version' || command === '-v' || command === 'version') return void process.stdout.write(`${version}\n`);
  if (rest.length > 0 || (command !== 'serve' && command !== 'migrate')) {
    process.stderr.write(`parley: unknown arguments: ${args.join(' ')}\n\n${help}`);
    process.exit(2);
  }
  const config = loadConfigOrExit();
  if (command === 'migrate') return migrate(config);
  await serve(config);
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`parley: ${(error as Error).message}\n`);
  process.exit(1);
}
