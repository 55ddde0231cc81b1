import { and, count, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type FileRow = Database['tables']['files']['$inferSelect'];
export type NewFile = Database['tables']['files']['$inferInsert'];

/** Data access for files and the attachments that pin them. Every query that takes a user id scopes to it. */
export function createFilesRepository(db: Database) {
  const { files, messageAttachments } = db.tables;

  const ownedFile = db.prepare<{ id: string; userId: string }, FileRow[]>('files.owned', (q) =>
    q
      .select()
      .from(files)
      .where(and(eq(files.id, sql.placeholder('id')), eq(files.userId, sql.placeholder('userId'))))
      .limit(1),
  );
  const firstPage = db.prepare<{ userId: string; limit: number }, FileRow[]>('files.list.first', (q) =>
    q
      .select()
      .from(files)
      .where(eq(files.userId, sql.placeholder('userId')))
      .orderBy(desc(files.id))
      .limit(sql.placeholder('limit')),
  );
  const laterPage = db.prepare<{ userId: string; limit: number; before: string }, FileRow[]>('files.list.after', (q) =>
    q
      .select()
      .from(files)
      .where(and(eq(files.userId, sql.placeholder('userId')), lt(files.id, sql.placeholder('before'))))
      .orderBy(desc(files.id))
      .limit(sql.placeholder('limit')),
  );

  return repository((tx: Tx | undefined) => ({
    async find(userId: string, id: string): Promise<FileRow | undefined> {
      const [row] = await ownedFile({ id, userId }, tx);
      return row;
    },

    /** Newest first (ids are UUIDv7, in time order); `before` is the id of the last row of the previous page. */
    list(userId: string, limit: number, before?: string): Promise<FileRow[]> {
      return before === undefined ? firstPage({ userId, limit }, tx) : laterPage({ userId, limit, before }, tx);
    },

    /** The user's files among `ids` (any order; others' and unknown ids are left out). */
    async findMany(userId: string, ids: readonly string[]): Promise<FileRow[]> {
      if (ids.length === 0) return [];
      return db.run(
        (q) =>
          q
            .select()
            .from(files)
            .where(and(eq(files.userId, userId), inArray(files.id, [...ids]))),
        tx,
      );
    },

    /** How many of `ids` are the user's. */
    async countOwned(userId: string, ids: string[]): Promise<number> {
      if (ids.length === 0) return 0;
      const [row] = await db.run(
        (q) =>
          q
            .select({ n: count() })
            .from(files)
            .where(and(eq(files.userId, userId), inArray(files.id, ids))),
        tx,
      );
      return Number(row?.n ?? 0);
    },

    /** Bytes of all the user's files. */
    async usedBytes(userId: string): Promise<number> {
      const [row] = await db.run(
        (q) =>
          q
            .select({ total: sql<string | number | null>`sum(${files.size})` })
            .from(files)
            .where(eq(files.userId, userId)),
        tx,
      );
      return Number(row?.total ?? 0);
    },

    /**
     * Serialises the user's uploads until the transaction ends, so that two of them cannot both
     * pass the quota check: a transaction-scoped advisory lock on Postgres; SQLite has one writer.
     */
    async lockUploads(userId: string): Promise<void> {
      if (db.kind === 'postgres') await db.raw(sql`select pg_advisory_xact_lock(hashtext(${`files:${userId}`}))`, tx);
    },

    async insert(rows: NewFile[]): Promise<FileRow[]> {
      if (rows.length === 0) return [];
      return db.run((q) => q.insert(files).values(rows).returning(), tx);
    },

    async remove(userId: string, id: string): Promise<void> {
      await db.run((q) => q.delete(files).where(and(eq(files.id, id), eq(files.userId, userId))), tx);
    },

    /** Whether a message carries the file. */
    async attached(id: string): Promise<boolean> {
      const [row] = await db.run(
        (q) => q.select({ id: messageAttachments.fileId }).from(messageAttachments).where(eq(messageAttachments.fileId, id)).limit(1),
        tx,
      );
      return row !== undefined;
    },

    /** Which of `keys` have a row: the rest are blobs of no file. */
    async existingKeys(keys: string[]): Promise<Set<string>> {
      if (keys.length === 0) return new Set();
      const rows = await db.run((q) => q.select({ key: files.storageKey }).from(files).where(inArray(files.storageKey, keys)), tx);
      return new Set(rows.map((row) => row.key));
    },
  }));
}

export type FilesRepository = ReturnType<typeof createFilesRepository>;
