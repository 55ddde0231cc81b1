// A Bun macro: runs while the code is bundled (or transpiled from source), so the executable
// carries the SQL of every migration and needs no `drizzle/` folder beside it. Hashes are
// computed exactly as drizzle's readMigrationFiles does, so both agree on what was applied.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type EmbeddedMigration = { sql: string[]; bps: boolean; folderMillis: number; hash: string; tag: string };

export function readMigrations(dialect: 'sqlite' | 'pg'): EmbeddedMigration[] {
  const folder = join(import.meta.dir, '../../../drizzle', dialect);
  const journal = JSON.parse(readFileSync(join(folder, 'meta/_journal.json'), 'utf8')) as {
    entries: { tag: string; when: number; breakpoints: boolean }[];
  };
  return journal.entries.map((entry) => {
    const query = readFileSync(join(folder, `${entry.tag}.sql`), 'utf8');
    return {
      sql: query.split('--> statement-breakpoint'),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash('sha256').update(query).digest('hex'),
      tag: entry.tag,
    };
  });
}
