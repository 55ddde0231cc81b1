#!/usr/bin/env bun
import { parseArgs } from 'node:util';
import { migrate, printMigrationStatus } from './cli/migrate.ts';
import { NotEmptyError, seed } from './cli/seed.ts';
import { type Config, ConfigError, parseConfig, readProcessEnv } from './config/index.ts';
import { serve } from './index.ts';
import { rootCause } from './infra/db/errors.ts';
import { createLogger } from './infra/log/index.ts';
import { version, versionLine } from './version.ts';

const help = `parley ${version}: AI chat backend in one executable

Usage:
  parley [serve]            start the HTTP server (the default)
  parley migrate            apply database migrations and exit (a SQLite database
                            that holds data is first copied beside itself, see SQLITE_BACKUPS)
  parley migrate --status   list applied and pending migrations and exit
  parley seed               load demo users, chats, messages and a pipeline into an empty database
                            (passwords are printed once); --force adds them to one with data
  parley --help             show this help
  parley --version          print the version, the commit it was built from and when

Configuration comes from environment variables (and a .env file in the working
directory): PORT, HOST, DATA_DIR, DATABASE_URL, REDIS_URL, JWT_SECRET, … — see README.md.
With none set it serves on port 3000 with SQLite in ./data and the echo provider.
`;

/** Each command and the flags it takes. */
const commands = {
  serve: {},
  migrate: { status: { type: 'boolean' } },
  seed: { force: { type: 'boolean' } },
} as const;
type Command = keyof typeof commands;

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

function usageError(args: string[]): never {
  process.stderr.write(`parley: unknown arguments: ${args.join(' ')}\n\n${help}`);
  process.exit(2);
}

async function main(args: string[]) {
  const [command = 'serve', ...rest] = args;
  if (command === '--help' || command === '-h' || command === 'help') return void process.stdout.write(help);
  if (command === '--version' || command === '-v' || command === 'version') return void process.stdout.write(`${versionLine()}\n`);
  if (!Object.hasOwn(commands, command)) usageError(args);
  let flags: { status?: boolean; force?: boolean };
  try {
    // Every option is boolean: parseArgs answers true or nothing for each.
    flags = parseArgs({ args: rest, options: commands[command as Command], strict: true, allowPositionals: false }).values as typeof flags;
  } catch {
    usageError(args);
  }
  const config = loadConfigOrExit();
  const write = (text: string) => void process.stdout.write(text);
  if (command === 'migrate') {
    if (flags.status) return printMigrationStatus(config, write);
    return migrate(config, createLogger(config.logLevel));
  }
  if (command === 'seed') {
    // The summary (with the passwords) is the output; log lines, warnings and worse only, go to stderr.
    const log = createLogger(config.logLevel === 'silent' ? 'silent' : 'warn', (line) => process.stderr.write(`${line}\n`));
    try {
      return await seed(config, log, { force: Boolean(flags.force), write });
    } catch (error) {
      if (!(error instanceof NotEmptyError)) throw error;
      process.stderr.write(`parley: ${error.message}\n`);
      process.exit(1);
    }
  }
  await serve(config);
}

// The reader of the output went away (`parley seed | head`): stop quietly, as a Unix tool does on SIGPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  await main(process.argv.slice(2));
} catch (error) {
  // The driver's own words ("database … does not exist"), not a wrapper's that quotes the query.
  process.stderr.write(`parley: ${rootCause(error) ?? String(error)}\n`);
  process.exit(1);
}
