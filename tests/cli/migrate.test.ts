// `parley migrate --status` on both databases, and the dated SQLite backups `parley migrate`
// (and the server, which migrates at start) takes before applying pending migrations: only when
// something is pending on a database that has data, only the newest SQLITE_BACKUPS kept.
import { Database as SqliteClient } from 'bun:sqlite';
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMigrations } from '../../src/infra/db/migrations.macro.ts';
import { runCli, stagePostgres, stageSqlite, statusRows } from '../helpers/cli.ts';
import { createTestDatabase, hasPostgres } from '../helpers/services.ts';

// Each test starts the CLI as a process: seconds on a busy 2-core machine (tests/setup.ts's default reaches only a run's first file).
setDefaultTimeout(60_000);

const sqliteTags = readMigrations('sqlite').map((migration) => migration.tag);
const pgTags = readMigrations('pg').map((migration) => migration.tag);

let dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'parley-cli-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

const backupsIn = (dir: string) =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.bak'))
    .sort();
const appliedIn = (path: string) => {
  const client = new SqliteClient(path, { readonly: true });
  try {
    return client.query<{ n: number }, []>('SELECT count(*) AS n FROM __drizzle_migrations').get()!.n;
  } finally {
    client.close();
  }
};

describe('parley migrate on SQLite', () => {
  test('happy: --status lists every migration pending on a new database, then applied after migrate; a new database is not backed up', async () => {
    const dir = tempDir();
    const before = await runCli(['migrate', '--status'], { DATA_DIR: dir }, dir);
    expect(before.code).toBe(0);
    expect(before.stdout.split('\n')[0]).toBe(`database: sqlite ${join(dir, 'parley.db')}`);
    expect(statusRows(before.stdout)).toEqual(sqliteTags.map((tag) => ['pending', tag]));
    expect(before.stdout).toContain(`0 applied, ${sqliteTags.length} pending`);
    expect(existsSync(join(dir, 'parley.db'))).toBe(false);

    const migrated = await runCli(['migrate'], { DATA_DIR: dir }, dir);
    expect(migrated.code).toBe(0);
    expect(backupsIn(dir)).toEqual([]);

    const after = await runCli(['migrate', '--status'], { DATA_DIR: dir }, dir);
    expect(statusRows(after.stdout)).toEqual(sqliteTags.map((tag) => ['applied', tag]));
    expect(after.stdout).toContain(`${sqliteTags.length} applied, 0 pending`);
  });

  test('happy: pending migrations on a database with data are preceded by a dated backup; only the newest SQLITE_BACKUPS are kept', async () => {
    const dir = tempDir();
    const path = join(dir, 'parley.db');
    stageSqlite(path, sqliteTags.length - 1);
    const staged = new SqliteClient(path);
    staged.run("INSERT INTO users (id, email) VALUES ('u-before', 'before@example.com')");
    staged.close();
    expect(statusRows((await runCli(['migrate', '--status'], { DATA_DIR: dir }, dir)).stdout).at(-1)).toEqual([
      'pending',
      sqliteTags.at(-1)!,
    ]);
    // Backups of earlier runs (and a file that only looks like one, which is not ours to delete).
    const older = [
      'parley.db.2020-01-01T00-00-00-000Z.bak',
      'parley.db.2021-06-01T12-00-00-000Z.bak',
      'parley.db.2022-01-01T00-00-00-000Z.bak',
    ];
    for (const name of older) writeFileSync(join(dir, name), 'old');
    writeFileSync(join(dir, 'other.db.2019-01-01T00-00-00-000Z.bak'), 'not ours');

    const startedAt = Date.now();
    const migrated = await runCli(['migrate'], { DATA_DIR: dir, SQLITE_BACKUPS: '2' }, dir);
    expect(migrated.code).toBe(0);
    const backups = backupsIn(dir).filter((name) => name.startsWith('parley.db.'));
    expect(backups).toHaveLength(2);
    expect(backups[0]).toBe(older[2]!);
    const taken = backups[1]!;
    expect(taken).toMatch(/^parley\.db\.\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z\.bak$/);
    const [date, time] = taken.slice('parley.db.'.length, -'.bak'.length).split('T') as [string, string];
    const stamp = Date.parse(`${date}T${time.replace(/^(\d{2})-(\d{2})-(\d{2})-(\d{3})Z$/, '$1:$2:$3.$4Z')}`);
    expect(stamp).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(stamp).toBeLessThanOrEqual(Date.now());
    expect(existsSync(join(dir, 'other.db.2019-01-01T00-00-00-000Z.bak'))).toBe(true);
    expect(statSync(join(dir, taken)).mode & 0o777).toBe(0o600);
    expect(migrated.stdout).toContain(join(dir, taken));

    // The backup is the database as it was: its data, and the migrations it had.
    expect(appliedIn(join(dir, taken))).toBe(sqliteTags.length - 1);
    expect(appliedIn(path)).toBe(sqliteTags.length);
    const copy = new SqliteClient(join(dir, taken), { readonly: true });
    expect(copy.query('SELECT email FROM users').all()).toEqual([{ email: 'before@example.com' }]);
    copy.close();

    // Nothing pending: no backup.
    expect((await runCli(['migrate'], { DATA_DIR: dir, SQLITE_BACKUPS: '2' }, dir)).code).toBe(0);
    expect(backupsIn(dir).filter((name) => name.startsWith('parley.db.'))).toEqual(backups);
  });

  test('happy: SQLITE_BACKUPS=0 migrates without a backup', async () => {
    const dir = tempDir();
    stageSqlite(join(dir, 'parley.db'), sqliteTags.length - 1);
    expect((await runCli(['migrate'], { DATA_DIR: dir, SQLITE_BACKUPS: '0' }, dir)).code).toBe(0);
    expect(backupsIn(dir)).toEqual([]);
    expect(appliedIn(join(dir, 'parley.db'))).toBe(sqliteTags.length);
  });

  test('error: an unknown flag or command is a usage error (exit 2); a bad SQLITE_BACKUPS stops with its name (exit 1)', async () => {
    const dir = tempDir();
    for (const args of [['migrate', '--bogus'], ['migrate', 'now'], ['seed', '--status'], ['frobnicate']]) {
      const result = await runCli(args, { DATA_DIR: dir }, dir);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('unknown arguments');
    }
    const bad = await runCli(['migrate'], { DATA_DIR: dir, SQLITE_BACKUPS: '-1' }, dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('SQLITE_BACKUPS');
  });
});

describe.if(hasPostgres)('parley migrate --status on Postgres', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dir: string;
  beforeAll(async () => {
    database = await createTestDatabase();
    dir = tempDir();
  });
  afterAll(() => database?.drop());

  test('happy: pending on an older database, applied after migrate; the credentials are never printed', async () => {
    const url = database.url.replace('postgres://postgres@', 'postgres://postgres:s3cret-pw@');
    await stagePostgres(database.url, pgTags.length - 2);
    const before = await runCli(['migrate', '--status'], { DATA_DIR: dir, DATABASE_URL: url }, dir);
    expect(before.code).toBe(0);
    expect(before.stdout.split('\n')[0]).toBe(`database: postgres ${new URL(url).host}${new URL(url).pathname}`);
    expect(before.stdout).not.toContain('s3cret-pw');
    expect(statusRows(before.stdout)).toEqual([
      ...pgTags.slice(0, -2).map((tag): [string, string] => ['applied', tag]),
      ...pgTags.slice(-2).map((tag): [string, string] => ['pending', tag]),
    ]);
    expect((await runCli(['migrate'], { DATA_DIR: dir, DATABASE_URL: database.url }, dir)).code).toBe(0);
    const after = await runCli(['migrate', '--status'], { DATA_DIR: dir, DATABASE_URL: database.url }, dir);
    expect(statusRows(after.stdout)).toEqual(pgTags.map((tag) => ['applied', tag]));
    expect(backupsIn(dir)).toEqual([]);
  });

  test('error: a database that does not exist is named as the driver says it, for --status and migrate alike, with no query or password', async () => {
    const missing = new URL(database.url);
    missing.password = 's3cret-pw';
    missing.pathname = `/${missing.pathname.slice(1)}_missing`;
    for (const args of [['migrate', '--status'], ['migrate']]) {
      const run = await runCli(args, { DATA_DIR: dir, DATABASE_URL: missing.toString() }, dir);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`database "${missing.pathname.slice(1)}" does not exist`);
      expect(run.stderr).not.toContain('Failed query');
      expect(run.stderr).not.toContain('s3cret-pw');
    }
  });
});
