import { and, asc, eq, gte, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type VoiceUsageRow = Database['tables']['voiceUsage']['$inferSelect'];

/** What one call adds to a user's day: counts, milliseconds of audio heard, characters spoken. */
export type VoiceUsageDelta = { transcriptions: number; transcribedMs: number; syntheses: number; synthesizedChars: number };

/** The voice_usage table: one row per user and day (UTC), added to by every transcription and synthesis. */
export function createVoiceRepository(db: Database) {
  const { voiceUsage } = db.tables;
  const add = db.prepare<{ userId: string; day: string } & VoiceUsageDelta, unknown>('voice.addUsage', (q) =>
    q
      .insert(voiceUsage)
      .values({
        userId: sql.placeholder('userId'),
        day: sql.placeholder('day'),
        transcriptions: sql.placeholder('transcriptions'),
        transcribedMs: sql.placeholder('transcribedMs'),
        syntheses: sql.placeholder('syntheses'),
        synthesizedChars: sql.placeholder('synthesizedChars'),
      })
      .onConflictDoUpdate({
        target: [voiceUsage.userId, voiceUsage.day],
        set: {
          transcriptions: sql`${voiceUsage.transcriptions} + ${sql.placeholder('transcriptions')}`,
          transcribedMs: sql`${voiceUsage.transcribedMs} + ${sql.placeholder('transcribedMs')}`,
          syntheses: sql`${voiceUsage.syntheses} + ${sql.placeholder('syntheses')}`,
          synthesizedChars: sql`${voiceUsage.synthesizedChars} + ${sql.placeholder('synthesizedChars')}`,
        },
      }),
  );
  return repository((tx: Tx | undefined) => ({
    /** Adds `delta` to the user's row for `day` (YYYY-MM-DD), creating it at zero first. */
    async record(userId: string, day: string, delta: VoiceUsageDelta): Promise<void> {
      await add({ userId, day, ...delta }, tx);
    },
    /** The user's rows from `fromDay` (YYYY-MM-DD) on, oldest first. */
    async since(userId: string, fromDay: string): Promise<VoiceUsageRow[]> {
      return db.run(
        (q) =>
          q
            .select()
            .from(voiceUsage)
            .where(and(eq(voiceUsage.userId, userId), gte(voiceUsage.day, fromDay)))
            .orderBy(asc(voiceUsage.day)),
        tx,
      );
    },
  }));
}

export type VoiceRepository = ReturnType<typeof createVoiceRepository>;
