import { mkdirSync } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageUnavailableError } from './errors.ts';
import { assertKey, fromSource, isKey, primed, SourceError } from './stream.ts';
import type { BlobEntry, BlobStat, BlobStorage, ByteRange, ByteSource } from './types.ts';

const isMissing = (error: unknown) => (error as { code?: string } | null)?.code === 'ENOENT';

/**
 * Blobs as files in `dir` (DATA_DIR/files), one per key. Writes go straight to the file, a chunk
 * at a time with each write awaited (the source is read no faster than the disk takes it); a
 * write that fails or whose source throws deletes its file before rethrowing.
 */
export function createDiskStorage(dir: string): BlobStorage {
  mkdirSync(dir, { recursive: true });
  const pathOf = (key: string) => {
    assertKey(key);
    return join(dir, key);
  };
  const failed = (operation: string) => (error: unknown) => {
    throw new StorageUnavailableError(operation, error);
  };

  return {
    kind: 'disk',

    async write(key: string, source: ByteSource): Promise<{ size: number }> {
      const path = pathOf(key);
      const handle = await open(path, 'w').catch(failed('open a file for writing'));
      let size = 0;
      try {
        for await (const chunk of fromSource(source)) {
          await handle.write(chunk);
          size += chunk.byteLength;
        }
        await handle.close();
        return { size };
      } catch (error) {
        await handle.close().catch(() => undefined);
        await rm(path, { force: true }).catch(() => undefined);
        if (error instanceof SourceError) throw error.error;
        throw new StorageUnavailableError('write a file', error);
      }
    },

    async read(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null> {
      const file = Bun.file(pathOf(key));
      const bytes = range ? file.slice(range.start, range.end + 1) : file;
      try {
        return await primed(bytes.stream(), (error) => {
          throw error;
        });
      } catch (error) {
        if (isMissing(error)) return null;
        throw new StorageUnavailableError('read a file', error);
      }
    },

    async stat(key: string): Promise<BlobStat | null> {
      const path = pathOf(key);
      try {
        const facts = await stat(path);
        return { size: facts.size, lastModified: facts.mtime };
      } catch (error) {
        if (isMissing(error)) return null;
        throw new StorageUnavailableError('stat a file', error);
      }
    },

    async delete(key: string): Promise<void> {
      const path = pathOf(key);
      await rm(path, { force: true }).catch(failed('delete a file'));
    },

    async *list(): AsyncGenerator<BlobEntry> {
      const names = await readdir(dir).catch(failed('list the files'));
      for (const name of names) {
        // Only what this storage could have written: a stray file of another kind is none of its business.
        if (!isKey(name)) continue;
        const facts = await stat(join(dir, name)).catch((error) => (isMissing(error) ? null : failed('stat a file')(error)));
        if (facts?.isFile()) yield { key: name, size: facts.size, lastModified: facts.mtime };
      }
    },
  };
}
