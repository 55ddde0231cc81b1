import { limitTier } from '../../config/index.ts';
import { AppError, conflict, invalid, notFound } from '../../http/errors.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import { isMultipartType } from '../../http/request-log.ts';
import type { Infra } from '../../infra/index.ts';
import type { RepliesService } from '../replies/service.ts';
import { createFileAnalysis } from './analyze.ts';
import { judgeType, sniffBytes } from './content-types.ts';
import { contentHeaders, type DownloadHeaders, etagOf, matchesNoneMatch, rangeOf } from './download.ts';
import type { FileInfo } from './model.ts';
import { asAppError, type FilePart, fileParts } from './multipart.ts';
import { sanitizeFileName } from './names.ts';
import { createFilePrompts } from './prompt.ts';
import { createFilesRepository, type FileRow } from './repository.ts';

export type { DownloadHeaders } from './download.ts';
export type { FileInfo } from './model.ts';

/** A blob with no row this long after its last write is an interrupted upload: the sweep removes it. */
export const orphanAgeMs = 60 * 60 * 1000;

/** Which form field an upload route reads its files from. */
export type UploadField = 'file' | 'files';

/** An upload request as the route has it: the body, unread, and its Content-Type. */
export type UploadRequest = { body: ReadableStream<Uint8Array> | null; contentType: string | null };

/** How many more bytes this file may take, and the error when it takes more. */
type Budget = { room: number; refuse: (size: number) => AppError };
type Stored = Omit<FileInfo, 'createdAt'> & { storageKey: string };

const view = (row: FileRow): FileInfo => ({
  id: row.id,
  name: row.name,
  contentType: row.contentType,
  size: row.size,
  sha256: row.sha256,
  createdAt: row.createdAt.toISOString(),
});

const isForeignKeyViolation = (error: unknown): boolean => {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === '23503' || code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
};

/** Files: streamed uploads judged by content, the owner's list, downloads, deletion, and the orphan sweep. */
export function createFilesService(infra: Infra, deps: { replies: RepliesService }) {
  const { config, db, storage, log } = infra;
  const repo = createFilesRepository(db);
  const bytesOf = async (row: FileRow): Promise<Uint8Array> => {
    const stream = await storage.read(row.storageKey);
    if (!stream) throw notFound('File content');
    return Bun.readableStreamToBytes(stream);
  };
  const prompts = createFilePrompts(infra, { rows: (userId, ids) => repo.findMany(userId, ids), bytes: bytesOf });
  const analysis = createFileAnalysis(infra, { replies: deps.replies, prompts });

  const quotaExceeded = (quota: number, used: number, needed: number) =>
    new AppError(
      'payload_too_large',
      `Storage quota of ${quota} bytes reached: your files use ${used} bytes and this upload needs at least ${needed} more; delete files to make room`,
      { details: { quota, used, needed } },
    );

  /** Deletes a blob, or leaves it to the orphan sweep (logged) when storage cannot now. */
  const removeBlob = async (key: string): Promise<void> => {
    await storage
      .delete(key)
      .catch((error) => log.warn('cannot remove a file’s bytes now; the orphan sweep will', { key, error: (error as Error).message }));
  };

  const owned = async (userId: string, id: string): Promise<FileRow> => {
    const row = await repo.find(userId, id);
    if (!row) throw notFound('File');
    return row;
  };

  /**
   * Streams one part to storage under a new id while hashing and counting it: 413 as soon as it
   * passes MAX_FILE_SIZE or its budget, 422 when empty, 415 when its content is not of an allowed
   * type (judged on its first bytes before anything is written; text is checked to its end).
   * Nothing of a refused part stays in storage (the storage removes what it wrote).
   */
  async function storePart(part: FilePart, field: UploadField, budget: Budget): Promise<Stored> {
    const id = Bun.randomUUIDv7();
    const name = sanitizeFileName(part.filename);
    const hash = new Bun.CryptoHasher('sha256');
    const iterator = part.bytes[Symbol.asyncIterator]();
    const next = async () => {
      try {
        return await iterator.next();
      } catch (error) {
        throw asAppError(error);
      }
    };
    let size = 0;
    const admit = (chunk: Uint8Array) => {
      size += chunk.byteLength;
      if (size > config.maxFileSize) throw new AppError('payload_too_large', `A file is limited to ${config.maxFileSize} bytes`);
      if (size > budget.room) throw budget.refuse(size);
      hash.update(chunk);
    };

    const head: Uint8Array[] = [];
    let headBytes = 0;
    let ended = false;
    while (headBytes < sniffBytes) {
      const step = await next();
      if (step.done) {
        ended = true;
        break;
      }
      admit(step.value);
      head.push(step.value);
      headBytes += step.value.byteLength;
    }
    if (size === 0) throw invalid(`body.${field}`, `"${name}" is empty`);
    const first = Buffer.concat(head);
    const { contentType, checkText } = await judgeType(first, ended, { name, type: part.declaredType });
    async function* bytes(): AsyncGenerator<Uint8Array> {
      yield first;
      if (ended) return;
      for (;;) {
        const step = await next();
        if (step.done) {
          checkText?.(new Uint8Array(0), true);
          return;
        }
        admit(step.value);
        checkText?.(step.value);
        yield step.value;
      }
    }
    await storage.write(id, bytes(), { contentType });
    return { id, name, contentType, size, sha256: hash.digest('hex'), storageKey: id };
  }

  return {
    /**
     * Reads the files of a multipart body (`field`: one `file`, or up to MAX_FILES_PER_UPLOAD
     * `files`) straight into storage, then records them in one transaction that checks the
     * tier's storage quota again; returns them in the order sent. Refused (413 size, count or
     * quota; 415 type; 422 missing, empty or malformed) or cut off, every blob this request wrote
     * is removed and no row is written.
     */
    async upload(user: { id: string; role: string; tier: string }, request: UploadRequest, field: UploadField): Promise<FileInfo[]> {
      const { body, contentType } = request;
      if (!contentType || !isMultipartType(contentType)) {
        throw new AppError('unsupported_media_type', `Upload files as multipart/form-data, in the field \`${field}\``);
      }
      if (!body) throw invalid(`body.${field}`, 'is required');
      const max = field === 'file' ? 1 : config.maxFilesPerUpload;
      const quota = config.rateLimit.tiers[limitTier(user)].storageBytes;
      const used = quota > 0 ? await repo.usedBytes(user.id) : 0;
      const stored: Stored[] = [];
      const storedBytes = () => stored.reduce((sum, file) => sum + file.size, 0);
      try {
        for await (const part of fileParts(body, contentType, max)) {
          if (part.field !== field) throw invalid(`body.${part.field}`, `is not read by this route: send files in the field \`${field}\``);
          if (stored.length >= max) {
            throw field === 'file'
              ? invalid('body.file', 'takes one file: send several to /api/v1/files/upload-multiple, each in a part named `files`')
              : new AppError('payload_too_large', `An upload takes at most ${max} files`);
          }
          const earlier = storedBytes();
          const room = quota > 0 ? quota - used - earlier : Number.POSITIVE_INFINITY;
          stored.push(await storePart(part, field, { room, refuse: (size) => quotaExceeded(quota, used, earlier + size) }));
        }
        if (stored.length === 0) {
          throw invalid(`body.${field}`, `is required: send the file as a multipart part named \`${field}\`, with a filename`);
        }
        const rows = await db.transaction(async (tx) => {
          const files = repo.with(tx);
          // Two uploads of one user may both have passed the check above: the second to commit is refused here.
          if (quota > 0) {
            await files.lockUploads(user.id);
            const now = await files.usedBytes(user.id);
            if (now + storedBytes() > quota) throw quotaExceeded(quota, now, storedBytes());
          }
          return files.insert(stored.map(({ storageKey, ...file }) => ({ ...file, storageKey, userId: user.id })));
        });
        const byId = new Map(rows.map((row) => [row.id, row]));
        return stored.map((file) => view(byId.get(file.id)!));
      } catch (error) {
        await Promise.all(stored.map((file) => removeBlob(file.storageKey)));
        throw error;
      }
    },

    /** The user's files, newest first, a page at a time. */
    async list(userId: string, query: { limit?: number; cursor?: string }): Promise<Page<FileInfo>> {
      const limit = query.limit ?? 20;
      const before = decodeCursor(query.cursor, isString);
      const rows = await repo.list(userId, limit + 1, before);
      return toPage(rows, limit, (row) => row.id, view);
    },

    /** One of the user's files; 404 when it is not theirs. */
    async info(userId: string, id: string): Promise<FileInfo> {
      return view(await owned(userId, id));
    },

    /**
     * The download of one of the user's files: 304 when If-None-Match names its ETag, 206 with one
     * byte range (unless If-Range names another version), 416 for a range past its end, else
     * 200; the bytes streamed from storage. 404 when it is not theirs, 503 when storage is away.
     */
    async content(userId: string, id: string, request: DownloadHeaders): Promise<Response> {
      const row = await owned(userId, id);
      const headers = contentHeaders(row);
      if (matchesNoneMatch(request.ifNoneMatch, etagOf(row.sha256))) {
        return new Response(null, { status: 304, headers: { etag: headers.etag!, 'cache-control': headers['cache-control']! } });
      }
      const range =
        request.ifRange === null || request.ifRange.trim() === etagOf(row.sha256) ? rangeOf(request.range, row.size) : undefined;
      const stream = await storage.read(row.storageKey, range);
      if (!stream) {
        log.error('a file has a row but no bytes in storage', { fileId: row.id, key: row.storageKey });
        throw notFound('File content');
      }
      if (!range) return new Response(stream, { status: 200, headers: { ...headers, 'content-length': String(row.size) } });
      return new Response(stream, {
        status: 206,
        headers: {
          ...headers,
          'content-range': `bytes ${range.start}-${range.end}/${row.size}`,
          'content-length': String(range.end - range.start + 1),
        },
      });
    },

    /**
     * Deletes one of the user's files: the row, then its bytes. 409 while a message carries it
     * (deleting the chat frees it); 404 when it is not theirs. Bytes that cannot be removed now
     * are left to the orphan sweep.
     */
    async remove(userId: string, id: string): Promise<void> {
      const row = await owned(userId, id);
      const inUse = () =>
        conflict('This file is attached to a message in one of your chats; delete that chat (DELETE /api/v1/chats/:id) to free it');
      try {
        await db.transaction(async (tx) => {
          const files = repo.with(tx);
          if (await files.attached(id)) throw inUse();
          await files.remove(userId, id);
        });
      } catch (error) {
        // Attached between the check and the delete: the foreign key refuses it.
        if (isForeignKeyViolation(error)) throw inUse();
        throw error;
      }
      await removeBlob(row.storageKey);
    },

    /**
     * For other modules: one of the user's files and its bytes as a stream (404 when it is not
     * theirs or its bytes are gone; 503 when storage is away).
     */
    async open(userId: string, id: string): Promise<{ file: FileInfo; stream: ReadableStream<Uint8Array> }> {
      const row = await owned(userId, id);
      const stream = await storage.read(row.storageKey);
      if (!stream) throw notFound('File content');
      return { file: view(row), stream };
    },

    /**
     * For other modules: the prompt content of the user's files `ids` within `budgetTokens`
     * (404 unless each is theirs): image parts, text as <attachment> elements, notes on what was cut.
     */
    promptParts: prompts.partsOf,
    /** For other modules: the text of the user's file (PDF, DOCX, text…), at most `maxChars` characters; 404 when not theirs, 415/422 without text. */
    textOf: prompts.textOf,

    /** The files among `ids` that are the user's, as shown to them (others' and unknown ids left out). */
    async describe(userId: string, ids: readonly string[]): Promise<FileInfo[]> {
      return (await repo.findMany(userId, ids)).map(view);
    },

    /** POST /files/:id/analyze (see analyze.ts): `stream` for SSE, `complete` for the whole answer. */
    analysis,

    /** The user's storage quota (their tier's; 0 = unlimited), bytes used, and what is left (null when unlimited). */
    async storage(user: { id: string; role: string; tier: string }): Promise<{ limit: number; used: number; remaining: number | null }> {
      const limit = config.rateLimit.tiers[limitTier(user)].storageBytes;
      const used = await repo.usedBytes(user.id);
      return { limit, used, remaining: limit === 0 ? null : Math.max(0, limit - used) };
    },

    /** For other modules: throws 404 unless every one of `ids` is the user's file. */
    async assertOwned(userId: string, ids: readonly string[]): Promise<void> {
      const unique = [...new Set(ids)];
      if ((await repo.countOwned(userId, unique)) !== unique.length) throw notFound('File');
    },

    /** Housekeeping: removes blobs that have had no row for an hour (interrupted uploads, files of deleted users). */
    async sweepOrphans(): Promise<{ orphanedUploads: number }> {
      const olderThan = Date.now() - orphanAgeMs;
      let removed = 0;
      let batch: string[] = [];
      const sweep = async () => {
        const kept = await repo.existingKeys(batch);
        for (const key of batch) {
          if (kept.has(key)) continue;
          await storage.delete(key);
          removed++;
        }
        batch = [];
      };
      for await (const blob of storage.list()) {
        if (blob.lastModified.getTime() > olderThan) continue;
        batch.push(blob.key);
        if (batch.length >= 500) await sweep();
      }
      await sweep();
      return { orphanedUploads: removed };
    },
  };
}

export type FilesService = ReturnType<typeof createFilesService>;
