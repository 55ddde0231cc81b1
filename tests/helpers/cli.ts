// Running `parley <command>` from source as a child process, the way an operator runs the
// executable: its own environment only, in a directory of its own, and what it printed.
import { Database as SqliteClient } from 'bun:sqlite';
import { resolve } from 'node:path';
import { drizzle as drizzleSqlite } from 'drizzle-orm/bun-sqlite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { readMigrations } from '../../src/infra/db/migrations.macro.ts';
import { cheapPasswordHashes } from './services.ts';

const cliPath = resolve(import.meta.dir, '../../src/cli.ts');

export type CliResult = { code: number; stdout: string; stderr: string };

/** `parley ...args` with `env` (and cheap password hashes) in `cwd`; resolves once it exits. */
export async function runCli(args: string[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  const proc = Bun.spawn([process.execPath, cliPath, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...cheapPasswordHashes, ...env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  return { code, stdout, stderr };
}

type Migrator = {
  dialect: { migrate(migrations: unknown[], session: unknown, config: { migrationsFolder: string }): unknown };
  session: unknown;
};

/** Applies only the first `count` embedded migrations to a SQLite file, as an older version of Parley left it. */
export function stageSqlite(path: string, count: number): void {
  const client = new SqliteClient(path, { create: true });
  try {
    const orm = drizzleSqlite({ client }) as unknown as Migrator;
    orm.dialect.migrate(readMigrations('sqlite').slice(0, count), orm.session, { migrationsFolder: '' });
  } finally {
    client.close();
  }
}

/** The same for a Postgres database. */
export async function stagePostgres(url: string, count: number): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const orm = drizzlePostgres({ client }) as unknown as Migrator;
    await orm.dialect.migrate(readMigrations('pg').slice(0, count), orm.session, { migrationsFolder: '' });
  } finally {
    await client.end();
  }
}

/** `migrate --status` output as [state, tag] pairs, in order. */
export const statusRows = (stdout: string): [string, string][] =>
  stdout
    .split('\n')
    .filter((line) => /^(applied|pending|unknown) /.test(line))
    .map((line) => line.split(/\s+/).slice(0, 2) as [string, string]);
