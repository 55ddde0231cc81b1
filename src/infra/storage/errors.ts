/**
 * The file storage could not do its part (the disk failed or is full; the S3 endpoint is
 * unreachable, refuses our credentials, or has no such bucket). Thrown by both storages instead of
 * their own errors, so routes answer 503 `unavailable` (http/errors.ts, unavailableFrom) rather
 * than 500, as they do when the KV or the database is away.
 */
export class StorageUnavailableError extends Error {
  override readonly name = 'StorageUnavailableError';

  constructor(operation: string, cause?: unknown) {
    const reason = cause instanceof Error ? cause.message : cause === undefined ? 'unknown failure' : String(cause);
    super(`The file storage is unavailable (${operation}): ${reason}`, { cause });
  }
}

export const isStorageUnavailable = (error: unknown): error is StorageUnavailableError => error instanceof StorageUnavailableError;
