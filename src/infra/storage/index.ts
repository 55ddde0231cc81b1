import { join } from 'node:path';
import type { Config } from '../../config/index.ts';
import { createDiskStorage } from './disk.ts';
import { createS3Storage } from './s3.ts';
import type { BlobStorage } from './types.ts';

export { isStorageUnavailable, StorageUnavailableError } from './errors.ts';
export type { BlobEntry, BlobStat, BlobStorage, ByteRange, ByteSource, StorageKind } from './types.ts';

/** The S3-compatible bucket when S3_BUCKET is set, otherwise local disk under DATA_DIR/files. */
export function openStorage(config: Pick<Config, 's3' | 'dataDir'>): BlobStorage {
  if (config.s3) return createS3Storage(config.s3);
  return createDiskStorage(join(config.dataDir, 'files'));
}
