// Copies of a SQLite database taken before migrations change it: `VACUUM INTO` writes a
// consistent, compacted copy while the database stays open (WAL included), beside the original,
// named by the time it was taken; only the newest few are kept.
import type { Database as SqliteClient } from 'bun:sqlite';
import { chmodSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

const stampOf = (at: Date) => at.toISOString().replaceAll(':', '-').replace('.', '-');
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The backups of the database at `path`, oldest first (their names sort by time). */
export function listSqliteBackups(path: string): string[] {
  const pattern = new RegExp(`^${escapeRegExp(basename(path))}\\.\\d{4}-\\d{2}-\\d{2}T\\d{2}-\\d{2}-\\d{2}-\\d{3}Z\\.bak$`);
  return readdirSync(dirname(path))
    .filter((name) => pattern.test(name))
    .sort()
    .map((name) => join(dirname(path), name));
}

/**
 * Writes `<file>.<UTC time>.bak` beside the database (owner-only, like the database) and deletes
 * all but the newest `keep` backups. Returns the new file's path. Throws when the copy cannot be
 * written (a full disk): the caller must not migrate then.
 */
export function backupSqlite(client: SqliteClient, path: string, keep: number, now = new Date()): string {
  let at = now;
  let target = `${path}.${stampOf(at)}.bak`;
  // Two backups within one millisecond (tests, scripts): the next free millisecond.
  while (existsSync(target)) {
    at = new Date(at.getTime() + 1);
    target = `${path}.${stampOf(at)}.bak`;
  }
  client.run('VACUUM INTO ?', [target]);
  chmodSync(target, 0o600);
  const backups = listSqliteBackups(path);
  for (const old of backups.slice(0, Math.max(0, backups.length - keep))) rmSync(old, { force: true });
  return target;
}
