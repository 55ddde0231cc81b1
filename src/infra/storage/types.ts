/** What storage knows of a blob: its size in bytes and when it was last written. */
export type BlobStat = { size: number; lastModified: Date };

/** One blob of a listing. */
export type BlobEntry = BlobStat & { key: string };

/** Bytes `start` to `end`, both included (as HTTP's Range counts them); 0-based. */
export type ByteRange = { start: number; end: number };

/** Bytes as they arrive: a web stream or any async iterable of chunks. */
export type ByteSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

export type StorageKind = 'disk' | 's3';

/**
 * Where uploaded files' bytes live, behind one door: local disk under DATA_DIR/files, or an
 * S3-compatible bucket (S3, R2, MinIO) under the prefix `files/`. Keys are ids the server made
 * (letters, digits, `.`, `_`, `-`), never names a user gave; any other key is a TypeError.
 * Every failure of the storage itself (disk I/O, S3 unreachable or refusing) is a
 * StorageUnavailableError (errors.ts), which the routes answer 503 `unavailable`.
 */
export type BlobStorage = {
  readonly kind: StorageKind;
  /**
   * Writes `source` under `key` as its chunks arrive, never holding the whole blob in memory;
   * resolves with the bytes written. When the source throws (a refused or cut-off upload) or the
   * write fails, what was written is removed and the error rethrown: the source's own error as
   * it was, a storage failure as StorageUnavailableError.
   */
  write(key: string, source: ByteSource, options?: { contentType?: string }): Promise<{ size: number }>;
  /**
   * The blob's bytes, or only `range` of them, as a stream read from storage as it is consumed;
   * null when there is no such blob. Storage failures are thrown here, before any byte is given
   * out (the first chunk is read at once), so a route can still answer 503.
   */
  read(key: string, range?: ByteRange): Promise<ReadableStream<Uint8Array> | null>;
  /** The blob's size and last write, or null when there is none. */
  stat(key: string): Promise<BlobStat | null>;
  /** Removes the blob; removing one that is not there is no error. */
  delete(key: string): Promise<void>;
  /** Every blob, in no particular order, with its last write (what the orphan sweep looks at). */
  list(): AsyncIterable<BlobEntry>;
};
