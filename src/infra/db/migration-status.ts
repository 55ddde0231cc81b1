import type { EmbeddedMigration } from './migrations.macro.ts';

/** A migration this executable carries: its tag (file name) and when it was generated. */
export type MigrationInfo = { tag: string; generatedAt: string };

/**
 * Which embedded migrations a database has, by Drizzle's own rule (the one `migrate` applies): a
 * migration is applied when its timestamp is not after the newest one recorded, pending otherwise.
 * `unknown` lists records that match no embedded migration (a newer version migrated this
 * database), by hash.
 */
export type MigrationStatus = {
  applied: MigrationInfo[];
  pending: MigrationInfo[];
  unknown: { hash: string; generatedAt: string | null }[];
};

/** A row of Drizzle's `__drizzle_migrations`: `created_at` is the migration's timestamp (ms), not when it ran. */
export type MigrationRecord = { hash: string; createdAt: number | string | null };

const iso = (ms: number) => new Date(ms).toISOString();

export function migrationStatus(embedded: readonly EmbeddedMigration[], records: readonly MigrationRecord[]): MigrationStatus {
  const newest = records.reduce((max, record) => Math.max(max, Number(record.createdAt ?? 0)), Number.NEGATIVE_INFINITY);
  const known = new Set(embedded.map((migration) => migration.hash));
  const info = (migration: EmbeddedMigration): MigrationInfo => ({ tag: migration.tag, generatedAt: iso(migration.folderMillis) });
  return {
    applied: embedded.filter((migration) => migration.folderMillis <= newest).map(info),
    pending: embedded.filter((migration) => !(migration.folderMillis <= newest)).map(info),
    unknown: records
      .filter((record) => !known.has(record.hash))
      .map((record) => ({ hash: record.hash, generatedAt: record.createdAt === null ? null : iso(Number(record.createdAt)) })),
  };
}
