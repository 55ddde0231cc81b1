import type { Config } from '../config/index.ts';
import { type Cache, openCache } from './cache/index.ts';
import { type Database, openDatabase } from './db/index.ts';
import { type KeyValueStore, openKeyValueStore } from './kv/index.ts';
import type { Logger } from './log/index.ts';
import { type Mailer, openMailer } from './mail/index.ts';
import { openQueues, type Queues } from './queue/index.ts';
import { openSpeech, type SpeechClient } from './speech/index.ts';
import { type BlobStorage, openStorage } from './storage/index.ts';

/** The doors to the outside, opened once at boot and handed to the app. */
export type Infra = {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly kv: KeyValueStore;
  /** Two-layer cache (process LRU in front of the KV) for derived data that reads repeat. */
  readonly cache: Cache;
  readonly mailer: Mailer;
  /** The OpenAI-compatible speech server; null when none is configured (voice answers 503). */
  readonly speech: SpeechClient | null;
  /** Uploaded files' bytes: local disk under DATA_DIR/files, or an S3-compatible bucket (S3_BUCKET). */
  readonly storage: BlobStorage;
  /** Job queues (BullMQ on Redis, or in process); a queue connects when a module opens it. */
  readonly queues: Queues;
  readonly startedAt: Date;
};

export async function openInfra(config: Config, log: Logger): Promise<Infra> {
  const db = openDatabase(config, log);
  const kv = await openKeyValueStore(config, log);
  const cache = await openCache(kv, log);
  const mailer = openMailer(config, log);
  const storage = openStorage(config);
  const queues = openQueues(config, log);
  return { config, log, db, kv, cache, mailer, storage, speech: openSpeech(config), queues, startedAt: new Date() };
}

export async function closeInfra(infra: Infra): Promise<void> {
  await infra.cache.close();
  await infra.queues.close();
  await Promise.allSettled([infra.kv.close(), infra.db.close(), infra.mailer.close()]);
}
