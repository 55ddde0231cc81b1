// docs/vps.md's PostgreSQL backup, run: deploy/parley-backup.sh with DATABASE_URL dumps a database
// the executable wrote to (pg_dump, custom format), and the guide's pg_restore line brings it back
// into an empty database that the executable then serves, with nothing left to migrate.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyBinaryToEmptyDir, repoRoot, startBinary } from '../helpers/binary.ts';
import { httpOfUrl, login, register } from '../helpers/client.ts';
import { createTestDatabase, hasPostgres, servicesRequired } from '../helpers/services.ts';

const guide = readFileSync(join(repoRoot, 'docs/vps.md'), 'utf8');
const tools = ['pg_dump', 'pg_restore'].every((tool) => Bun.which(tool));
if (hasPostgres && !tools) {
  const reason = 'pg_dump and pg_restore are not installed (apt-get install -y postgresql-client)';
  if (servicesRequired) throw new Error(`${reason}, but REQUIRE_SERVICES=1 needs the PostgreSQL backup run`);
  console.warn(`[skip] ${reason}: the PostgreSQL backup is not run`);
}

describe.if(hasPostgres && tools)('docs/vps.md: PostgreSQL backup and restore', () => {
  let binary: Awaited<ReturnType<typeof copyBinaryToEmptyDir>>;
  let work: string;
  const drops: (() => Promise<void>)[] = [];
  const database = async (migrated: boolean) => {
    const made = await createTestDatabase({ migrated });
    drops.push(made.drop);
    return made.url;
  };
  const serve = (databaseUrl: string) =>
    startBinary({ path: binary.path, cwd: binary.dir, env: { DATABASE_URL: databaseUrl, DATA_DIR: join(work, 'data') } });
  const run = (argv: string[], env: Record<string, string>) =>
    Bun.spawnSync(argv, { env: { PATH: process.env.PATH ?? '', ...env }, stdout: 'pipe', stderr: 'pipe' });

  beforeAll(async () => {
    binary = await copyBinaryToEmptyDir();
    work = mkdtempSync(join(tmpdir(), 'parley-pg-backup-'));
  }, 180_000);
  afterAll(async () => {
    for (const drop of drops) await drop();
    binary?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('happy: the backup script dumps the database, and the guide’s pg_restore line restores it where Parley serves it again', async () => {
    const source = await database(true);
    const original = await serve(source);
    const user = await register(httpOfUrl(original.url));
    expect(await original.stop()).toBe(0);

    const backupDir = join(work, 'backups');
    const backup = run([join(repoRoot, 'deploy/parley-backup.sh')], { DATABASE_URL: source, BACKUP_DIR: backupDir });
    expect(backup.stderr.toString()).toBe('');
    expect(backup.exitCode).toBe(0);
    const dump = backup.stdout.toString().trim();
    expect(dump).toMatch(new RegExp(`^${backupDir}/parley-\\d{8}T\\d{6}Z\\.dump$`));
    expect(readdirSync(backupDir)).toEqual([dump.slice(backupDir.length + 1)]);

    // The guide's restore (the URL read from the environment file, then pg_restore), with the dump
    // and an empty database of its own, named in an environment file the guide's way.
    const urlLine = guide.split('\n').find((l) => l.startsWith('DATABASE_URL=$('));
    const line = guide.split('\n').find((l) => l.startsWith('pg_restore '));
    expect(urlLine).toBeDefined();
    expect(line).toBeDefined();
    const target = await database(false);
    const envFile = join(work, 'parley.env');
    writeFileSync(envFile, `# Comments on lines of their own\nJWT_SECRET=x\nDATABASE_URL=${target}\n`);
    const script = `${urlLine!.replace('/etc/parley/parley.env', envFile)}\n${line!.replace(/\/var\/backups\/parley\/\S+\.dump/, dump)}`;
    const restore = run(['/bin/sh', '-c', script], {});
    expect(restore.stderr.toString()).toBe('');
    expect(restore.exitCode).toBe(0);

    const status = run([binary.path, 'migrate', '--status'], { DATABASE_URL: target, DATA_DIR: join(work, 'data') });
    expect(status.exitCode).toBe(0);
    expect(status.stdout.toString()).not.toMatch(/^pending/m);
    const restored = await serve(target);
    try {
      const tokens = await login(httpOfUrl(restored.url), user.email, user.password);
      expect(tokens.userId).toBe(user.userId);
    } finally {
      await restored.stop();
    }
  }, 120_000);

  test('happy: the script keeps only the newest BACKUP_KEEP dumps', async () => {
    const source = await database(true);
    const backupDir = join(work, 'keep');
    const dumps: string[] = [];
    for (let i = 0; i < 3; i++) {
      const result = run([join(repoRoot, 'deploy/parley-backup.sh')], { DATABASE_URL: source, BACKUP_DIR: backupDir, BACKUP_KEEP: '2' });
      expect(result.exitCode).toBe(0);
      dumps.push(
        result.stdout
          .toString()
          .trim()
          .slice(backupDir.length + 1),
      );
      // Names are to the second: the next one must be a second later.
      await Bun.sleep(1100);
    }
    expect(readdirSync(backupDir).sort()).toEqual(dumps.slice(1).sort());
  }, 60_000);
});
