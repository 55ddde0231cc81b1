import { StorageUnavailableError } from './errors.ts';
import { assertKey, fromSource, isKey, primed, SourceError } from './stream.ts';
import type { BlobEntry, BlobStat, BlobStorage, ByteRange, ByteSource } from './types.ts';

export type S3Settings = {
  bucket: string;
  endpoint?: string;
  region?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
};

/** Every object of ours is under this prefix: a bucket shared with other data is never swept beyond it. */
const prefix = 'files/';
// S3's smallest part but the last; the writer is flushed each time this much has been given to it.
const partSize = 5 * 1024 * 1024;

const isNoSuchKey = (error: unknown) => (error as { code?: string } | null)?.code === 'NoSuchKey';

/**
 * Blobs as objects in an S3-compatible bucket, through Bun's own S3 client (`S3_ENDPOINT` for R2,
 * MinIO or any other). Writes stream through the client's multipart writer, flushed every part so
 * that at most a few parts wait in memory however large the blob. Bun's writer cannot abort an
 * upload, so a write that fails or whose source throws finishes the object and deletes it.
 */
export function createS3Storage(settings: S3Settings): BlobStorage {
  const client = new Bun.S3Client({
    bucket: settings.bucket,
    endpoint: settings.endpoint,
    region: settings.region,
    accessKeyId: settings.accessKeyId,
    secretAccessKey: settings.secretAccessKey,
  });
  const objectKey = (key: string) => {
    assertKey(key);
    return prefix + key;
  };
  const unavailable = (operation: string, error: unknown) => new StorageUnavailableError(operation, error);

  return {
    kind: 's3',

    async write(key: string, source: ByteSource, options: { contentType?: string } = {}): Promise<{ size: number }> {
      const name = objectKey(key);
      const writer = client.file(name).writer({ type: options.contentType, partSize, queueSize: 2 });
      let size = 0;
      let sincePart = 0;
      try {
        for await (const chunk of fromSource(source)) {
          await writer.write(chunk);
          size += chunk.byteLength;
          sincePart += chunk.byteLength;
          // Without this the writer takes every chunk at once and holds what S3 has not yet received.
          if (sincePart >= partSize) {
            await writer.flush();
            sincePart = 0;
          }
        }
        await writer.end();
        return { size };
      } catch (error) {
        await Promise.resolve()
          .then(() => writer.end())
          .catch(() => undefined);
        await client.delete(name).catch(() => undefined);
        if (error instanceof SourceError) throw error.error;
        throw unavailable('write an object', error);
      }
    },

    async read(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null> {
      const file = client.file(objectKey(key));
      const bytes = range ? file.slice(range.start, range.end + 1) : file;
      try {
        return await primed(bytes.stream(), (error) => {
          throw error;
        });
      } catch (error) {
        if (isNoSuchKey(error)) return null;
        throw unavailable('read an object', error);
      }
    },

    async stat(key: string): Promise<BlobStat | null> {
      const name = objectKey(key);
      try {
        const facts = await client.stat(name);
        return { size: facts.size, lastModified: facts.lastModified };
      } catch (error) {
        if (isNoSuchKey(error)) return null;
        throw unavailable('stat an object', error);
      }
    },

    async delete(key: string): Promise<void> {
      const name = objectKey(key);
      try {
        await client.delete(name);
      } catch (error) {
        if (!isNoSuchKey(error)) throw unavailable('delete an object', error);
      }
    },

    async *list(): AsyncGenerator<BlobEntry> {
      let continuationToken: string | undefined;
      do {
        const page = await client.list({ prefix, continuationToken, maxKeys: 1000 }).catch((error) => {
          throw unavailable('list objects', error);
        });
        for (const object of page.contents ?? []) {
          const key = object.key.slice(prefix.length);
          if (!object.key.startsWith(prefix) || !isKey(key)) continue;
          yield { key, size: object.size ?? 0, lastModified: new Date(object.lastModified ?? 0) };
        }
        continuationToken = page.isTruncated ? page.nextContinuationToken : undefined;
      } while (continuationToken);
    },
  };
}
