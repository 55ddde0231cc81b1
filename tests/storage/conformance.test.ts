// One suite for both sides of the storage door (src/infra/storage): local disk, and S3 through
// Bun's S3 client against a real S3-compatible server (s3rver, tests/helpers/s3.ts). The same
// tests run on each: streamed writes, ranged reads, stat, delete, list, and what a failed write
// leaves behind (nothing).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDiskStorage } from '../../src/infra/storage/disk.ts';
import { type BlobStorage, StorageUnavailableError } from '../../src/infra/storage/index.ts';
import { createS3Storage } from '../../src/infra/storage/s3.ts';
import { type S3Server, startS3 } from '../helpers/s3.ts';

/** `count` chunks of `size` bytes, each filled with its index: every byte says where it belongs. */
async function* chunks(count: number, size: number, failAt?: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < count; i++) {
    if (i === failAt) throw new Error('the source failed');
    yield new Uint8Array(size).fill(i % 251);
  }
}

const streamOf = (bytes: Uint8Array) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(bytes);
      controller.close();
    },
  });

const readAll = async (stream: ReadableStream<Uint8Array> | null) =>
  stream ? new Uint8Array(await new Response(stream).arrayBuffer()) : null;
const newKey = () => Bun.randomUUIDv7();
const keysOf = async (storage: BlobStorage) => {
  const keys: string[] = [];
  for await (const entry of storage.list()) keys.push(entry.key);
  return keys;
};

type Side = { name: string; open: () => Promise<{ storage: BlobStorage; stray: () => Promise<void>; close: () => Promise<void> }> };

const sides: Side[] = [
  {
    name: 'disk',
    async open() {
      const root = mkdtempSync(join(tmpdir(), 'parley-storage-'));
      const dir = join(root, 'files');
      return {
        storage: createDiskStorage(dir),
        // A file that is not a key this storage could have made.
        stray: async () => writeFileSync(join(dir, 'not a key.txt'), 'x'),
        close: async () => rmSync(root, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 's3 (s3rver)',
    async open() {
      const s3: S3Server = await startS3();
      return {
        storage: createS3Storage({
          bucket: s3.bucket,
          endpoint: s3.endpoint,
          region: 'us-east-1',
          accessKeyId: 'S3RVER',
          secretAccessKey: 'S3RVER',
        }),
        // An object of someone else's in the same bucket, outside Parley's prefix.
        stray: async () => {
          await s3.client.write('elsewhere/report.pdf', 'not ours');
        },
        close: () => s3.close(),
      };
    },
  },
];

for (const side of sides) {
  describe(`storage conformance: ${side.name}`, () => {
    let storage: BlobStorage;
    let opened: Awaited<ReturnType<Side['open']>>;
    beforeAll(async () => {
      opened = await side.open();
      storage = opened.storage;
    });
    afterAll(() => opened?.close());

    test('happy: a blob written from a web stream reads back the same, and stat says its size', async () => {
      const key = newKey();
      const bytes = new TextEncoder().encode('hello, storage ✓');
      expect(await storage.write(key, streamOf(bytes), { contentType: 'text/plain' })).toEqual({ size: bytes.byteLength });
      expect(await readAll(await storage.read(key))).toEqual(bytes);
      const stat = await storage.stat(key);
      expect(stat?.size).toBe(bytes.byteLength);
      expect(Math.abs(stat!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
    });

    test('happy: 12 MiB from an async iterable of 64 KiB chunks (several S3 parts) arrives whole and in order', async () => {
      const key = newKey();
      const count = 192;
      const size = 64 * 1024;
      expect(await storage.write(key, chunks(count, size))).toEqual({ size: count * size });
      const back = await readAll(await storage.read(key));
      expect(back?.byteLength).toBe(count * size);
      const expected = new Bun.CryptoHasher('sha256');
      for await (const chunk of chunks(count, size)) expected.update(chunk);
      expect(new Bun.CryptoHasher('sha256').update(back!).digest('hex')).toBe(expected.digest('hex'));
    });

    // (Not bytes 0-0: s3rver answers that one with the whole object, which S3 itself does not.)
    test('happy: ranges read exactly their bytes: the first two, a middle span, the last byte', async () => {
      const key = newKey();
      const bytes = new Uint8Array(100_000).map((_, i) => i % 256);
      await storage.write(key, streamOf(bytes));
      expect(await readAll(await storage.read(key, { start: 0, end: 1 }))).toEqual(bytes.slice(0, 2));
      expect(await readAll(await storage.read(key, { start: 1000, end: 65_999 }))).toEqual(bytes.slice(1000, 66_000));
      expect(await readAll(await storage.read(key, { start: 99_999, end: 99_999 }))).toEqual(bytes.slice(99_999));
    });

    test('happy: list gives each blob with its last write, and nothing that is not one of its keys', async () => {
      const key = newKey();
      await storage.write(key, streamOf(new Uint8Array([1, 2, 3])));
      await opened.stray();
      const entries = [];
      for await (const entry of storage.list()) entries.push(entry);
      const mine = entries.find((entry) => entry.key === key);
      expect(mine?.size).toBe(3);
      expect(Math.abs(mine!.lastModified.getTime() - Date.now())).toBeLessThan(60_000);
      expect(entries.every((entry) => /^[0-9a-f-]{36}$/.test(entry.key))).toBe(true);
    });

    test('happy: delete removes the blob; deleting, reading or stating one that is not there is no error', async () => {
      const key = newKey();
      await storage.write(key, streamOf(new Uint8Array([9])));
      await storage.delete(key);
      expect(await storage.stat(key)).toBeNull();
      expect(await storage.read(key)).toBeNull();
      expect(await keysOf(storage)).not.toContain(key);
      await storage.delete(key);
      await storage.delete(newKey());
      expect(await storage.read(newKey(), { start: 0, end: 10 })).toBeNull();
    });

    test('error: a source that fails midway rejects the write with its own error and leaves nothing behind', async () => {
      for (const failAt of [0, 3, 100]) {
        const key = newKey();
        const written = storage.write(key, chunks(150, 64 * 1024, failAt));
        await expect(written).rejects.toThrow('the source failed');
        expect(await storage.stat(key)).toBeNull();
        expect(await keysOf(storage)).not.toContain(key);
      }
    });

    test('security: keys are ids, never paths: `..`, slashes and empty keys are refused before anything is touched', async () => {
      for (const key of ['../escape', 'a/b', '..', '', 'x\\y', '.hidden', 'files/../../etc']) {
        await expect(storage.write(key, streamOf(new Uint8Array([1])))).rejects.toBeInstanceOf(TypeError);
        await expect(storage.read(key)).rejects.toBeInstanceOf(TypeError);
        await expect(storage.stat(key)).rejects.toBeInstanceOf(TypeError);
        await expect(storage.delete(key)).rejects.toBeInstanceOf(TypeError);
      }
    });
  });
}

describe('storage conformance: s3 unreachable', () => {
  let s3: S3Server;
  let storage: BlobStorage;
  beforeAll(async () => {
    s3 = await startS3();
    storage = createS3Storage({ bucket: s3.bucket, endpoint: s3.endpoint, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' });
    await storage.write('kept', streamOf(new Uint8Array([1, 2, 3])));
    await s3.stop();
  });
  afterAll(() => s3?.close());

  test('error: every operation fails with StorageUnavailableError (a 503 on the routes), never the client’s own error', async () => {
    await expect(storage.write(newKey(), chunks(3, 1024))).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(storage.read('kept')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(storage.stat('kept')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(storage.delete('kept')).rejects.toBeInstanceOf(StorageUnavailableError);
    await expect(keysOf(storage)).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  test('happy: once the server is back, the same storage works again', async () => {
    await s3.start();
    expect(await readAll(await storage.read('kept'))).toEqual(new Uint8Array([1, 2, 3]));
    await s3.stop();
  });
});
