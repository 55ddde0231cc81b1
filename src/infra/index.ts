import type { Config } from '../config/index.ts';
import { type Cache, openCache } from './cache/index.ts';
import { type Database, openDatabase } from './db/index.ts';
import { type KeyValueStore, openKeyValueStore } from './kv/index.ts';
import type { Logger } from './log/index.ts';
import { type Mailer, openMailer } from './mail/index.ts';

/** The doors to the outside, opened once at boot and handed to the app. */
export type Infra = {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly kv: KeyValueStore;
  /** Two-layer cache (process LRU in front of the KV) for derived data that reads repeat. */
  readonly cache: Cache;
  readonly mailer: Mailer;
  readonly startedAt: Date;
};

export async function openInfra(config: Config, log: Logger): Promise<Infra> {
  const db = openDatabase(config, log);
  const kv = await openKeyValueStore(config, log);
  const cache = await openCache(kv, log);
  const mailer = openMailer(config, log);
  return { config, log, db, kv, cache, mailer, startedAt: new Date() };
}

export async function closeInfra(infra: Infra): Promise<void> {
  await infra.cache.close();
  await Promise.allSettled([infra.kv.close(), infra.db.close(), infra.mailer.close()]);
}
