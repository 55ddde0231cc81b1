// Transcript reads in the two-layer cache (src/infra/cache), kept as long as the reader's tier
// allows (TRANSCRIPT_CACHE_TTL: a namespace per tier, since a namespace has one lifetime), and
// dropped from every tier's namespace on every instance by each change or delete before it answers.
import type { LimitTier } from '../../config/index.ts';
import { limitTiers } from '../../config/index.ts';
import type { CacheNamespace } from '../../infra/cache/index.ts';
import type { Infra } from '../../infra/index.ts';
import type { Transcript } from './model.ts';

/** What is cached per transcript: its view, and whose it is (checked on every read, cached or not). */
export type CachedTranscript = { userId: string; transcript: Transcript };

/** The per-process layer keeps a transcript at most this long: invalidations reach it by pub/sub, and this bounds one that was lost. */
const maxL1TtlMs = 10_000;
/** Transcripts kept in each process per tier: a transcript can be large (a whole conversation), unlike most cached values. */
const l1MaxEntries = 200;

/**
 * One cache namespace per tier whose TTL is above 0 (`transcripts-<tier>`: L2 for the tier's
 * seconds, L1 for at most 10 s); `read` goes through the reader's, `changed` drops a transcript from all.
 */
export function createTranscriptCaches(infra: Pick<Infra, 'cache' | 'config'>) {
  const ttls = infra.config.transcriptCacheTtlSeconds;
  const spaces = new Map<LimitTier, CacheNamespace<CachedTranscript>>();
  for (const tier of limitTiers) {
    const ttlMs = ttls[tier] * 1000;
    if (ttlMs > 0)
      spaces.set(
        tier,
        infra.cache.namespace(`transcripts-${tier}`, { l1TtlMs: Math.min(ttlMs, maxL1TtlMs), l2TtlMs: ttlMs, l1MaxEntries }),
      );
  }

  return {
    /** The transcript `id` read through the cache of `tier` (straight from `load` where that tier's TTL is 0). */
    read(tier: LimitTier, id: string, load: () => Promise<CachedTranscript>): Promise<CachedTranscript> {
      const space = spaces.get(tier);
      return space ? space.get(id, load) : load();
    },

    /** After a change to or the deletion of transcript `id`: gone from every tier's cache, on every instance. */
    async changed(id: string): Promise<void> {
      await Promise.all([...spaces.values()].map((space) => space.invalidate(id)));
    },
  };
}

export type TranscriptCaches = ReturnType<typeof createTranscriptCaches>;
