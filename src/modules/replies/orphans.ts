// Replies whose producer is gone (its instance died, or stopped without finishing them) are
// settled here: by the sweeper every instance runs, by cancel, and by regenerate.
import type { Infra } from '../../infra/index.ts';
import type { BufferedEvent, StreamBuffers } from '../../infra/kv/stream-buffers.ts';
import type { MessageRow, RepliesRepository } from './repository.ts';

/** Keys a running generation keeps in the KV (see engine.ts). */
export const aliveKey = (messageId: string) => `generation:alive:${messageId}`;
export const streamOfKey = (messageId: string) => `generation:stream:${messageId}`;
/** Claimed by the one instance settling an orphaned reply. */
const settleKey = (messageId: string) => `generation:settle:${messageId}`;
const interruptedError = { code: 'interrupted', message: 'The server generating this reply stopped; the text so far is kept' };

type OrphanDeps = Pick<Infra, 'kv' | 'log'> & {
  buffers: StreamBuffers;
  repo: RepliesRepository;
  /** Seconds a stream stays replayable after its last event. */
  ttl: number;
  /** True when this instance runs the generation of `messageId` (then it is no orphan). */
  isLocal: (messageId: string) => boolean;
  emit: (streamId: string, event: string, payload: unknown) => Promise<string>;
};

/** `settleOrphan(messageId)` and `sweep(minAgeMs)`; both safe on several instances at once. */
export function createOrphanSettler({ kv, log, buffers, repo, ttl, isLocal, emit }: OrphanDeps) {
  /** The text and thinking a stream buffer's events carry. */
  const textOfEvents = (events: BufferedEvent[]) => {
    let content = '';
    let thinking = '';
    for (const event of events) {
      if (event.event !== 'delta' && event.event !== 'reasoning') continue;
      const chunk = String((JSON.parse(event.data) as { text?: unknown }).text ?? '');
      if (event.event === 'delta') content += chunk;
      else thinking += chunk;
    }
    return { content, reasoning: thinking || null };
  };

  /**
   * Settles a `streaming` message whose producer is gone (its instance died, or stopped without
   * finishing it): its stream is ended with `error {code: "interrupted"}` and the message stored
   * `interrupted` with the text of the stream's deltas (the buffer holds more than the last
   * flush). Safe on several instances at once: one claims the message (a KV key set only if
   * absent), and the update applies only while the message is still `streaming`. True when this
   * call settled it.
   */
  async function settleOrphan(messageId: string): Promise<boolean> {
    if (isLocal(messageId)) return false;
    if (!(await kv.set(settleKey(messageId), '1', { ttlMs: 60_000, onlyIfAbsent: true }))) return false;
    try {
      const streamId = await kv.get(streamOfKey(messageId));
      let kept: { content: string; reasoning: string | null } | undefined;
      let status: 'interrupted' | 'error' = 'interrupted';
      if (streamId) {
        let { events, ended } = await buffers.snapshot(streamId);
        if (!ended) {
          // End first, then read: whatever a producer taken for dead still appends lands after
          // the end, where no reader goes, and is not part of the text kept.
          const errorId = await emit(streamId, 'error', interruptedError);
          await buffers.end(streamId, ttl);
          const after = (await buffers.snapshot(streamId)).events;
          const cut = after.findIndex((event) => event.id === errorId);
          events = cut < 0 ? after : after.slice(0, cut);
        } else {
          // Ended by a producer that then could not store the message: it failed.
          const last = events.at(-1);
          if (last?.event === 'error' && (JSON.parse(last.data) as { code?: string }).code !== 'interrupted') status = 'error';
        }
        if (events.some((event) => event.event === 'start')) kept = textOfEvents(events);
      }
      const fields = { id: messageId, status, finishReason: status } as const;
      let row: MessageRow | undefined;
      try {
        row = await repo.settle({ ...fields, ...kept });
      } catch (error) {
        if (!kept) throw error;
        // The database refuses that text: keep what was flushed rather than leave it streaming.
        log.warn('could not store the text of an orphaned reply; keeping what was flushed', { messageId, error: (error as Error).message });
        row = await repo.settle(fields);
      }
      if (row) log.warn('settled a reply whose producer is gone', { messageId, status, chars: row.content.length });
      return row !== undefined;
    } catch (error) {
      await kv.del(settleKey(messageId)).catch(() => undefined);
      throw error;
    }
  }

  /** No producer runs `messageId` here, and its heartbeat has lapsed (three missed beats). */
  const isOrphan = async (messageId: string) => !isLocal(messageId) && !(await kv.exists(aliveKey(messageId)).catch(() => true));

  /**
   * Settles every `streaming` message whose producer is gone. `minAgeMs`: only messages not
   * written to for that long (a reply just stored may not have its heartbeat yet).
   */
  async function sweep(minAgeMs: number): Promise<number> {
    let settled = 0;
    for (const { id } of await repo.streaming(minAgeMs > 0 ? new Date(Date.now() - minAgeMs) : undefined)) {
      if (!(await isOrphan(id))) continue;
      try {
        if (await settleOrphan(id)) settled++;
      } catch (error) {
        log.warn('could not settle an orphaned reply', { messageId: id, error: (error as Error).message });
      }
    }
    if (settled) log.warn('marked interrupted generations', { count: settled });
    return settled;
  }

  return { settleOrphan, sweep, isOrphan };
}
