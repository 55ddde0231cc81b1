// Stopping a reply on whichever instance runs it: every instance listens on one KV channel and
// stops what it runs for a message (or for all of a user's), and the one that obeyed sets an
// acknowledgement key, so a canceller can tell a live producer from a dead one (whose reply it
// then settles itself: see the engine's cancel).
import type { Infra } from '../../infra/index.ts';
import type { GenerationResult } from './generation.ts';

/** A reply this instance runs: whose, how to stop it, and its end. */
export type ActiveGeneration = { userId: string; controller: AbortController; done: Promise<GenerationResult> };

const cancelChannel = 'generation:cancel';
/** Set by the instance that obeyed a cancel: a canceller that sees none in time takes the producer for dead. */
const ackKey = (messageId: string) => `generation:cancel-ack:${messageId}`;

/**
 * The cancels of one instance over `active` (the replies it runs, by message id). `ackWaitMs`: how
 * long `ask` waits for the producer's acknowledgement, in ms.
 */
export function createCancels(infra: Pick<Infra, 'kv' | 'log'>, active: ReadonlyMap<string, ActiveGeneration>, ackWaitMs: number) {
  const { kv, log } = infra;

  /** Stops what this instance runs for `target`: a message id, or `user:<id>` for all of a user's replies. */
  const stopLocal = (target: string) => {
    if (!target.startsWith('user:')) {
      const entry = active.get(target);
      if (!entry) return;
      entry.controller.abort();
      // Tells the canceller (on whichever instance) that a live producer obeyed.
      void kv.set(ackKey(target), '1', { ttlMs: 60_000 }).catch(() => undefined);
      return;
    }
    const userId = target.slice('user:'.length);
    for (const entry of active.values()) if (entry.userId === userId) entry.controller.abort();
  };

  /** True when the owner of `messageId` answered a cancel within the wait (see stopLocal). */
  async function acknowledged(messageId: string): Promise<boolean> {
    const until = Date.now() + ackWaitMs;
    for (;;) {
      // An unreachable KV proves nothing: take the producer for alive.
      if (await kv.exists(ackKey(messageId)).catch(() => true)) return true;
      if (Date.now() >= until) return false;
      await Bun.sleep(25);
    }
  }

  let listener: Promise<unknown> | undefined;
  return {
    /** One subscription per instance (made on first use, again after a failure): whoever runs a reply obeys a cancel sent anywhere. */
    listen: () =>
      (listener ??= kv.subscribe(cancelChannel, stopLocal).catch((error) => {
        listener = undefined;
        log.warn('cannot listen for cancels', { error: (error as Error).message });
      })),

    /** Asks every instance to stop `messageId`; true when the one running it acknowledged within `ackWaitMs`. */
    async ask(messageId: string): Promise<boolean> {
      await kv.publish(cancelChannel, messageId);
      return acknowledged(messageId);
    },

    /** Stops every reply of `userId` here and asks every instance to; resolves once asked. */
    async stopUser(userId: string): Promise<void> {
      stopLocal(`user:${userId}`);
      // Beyond this instance this is best effort while the KV is away: the disable itself is stored
      // and their connections are closed by the revocation re-check, but a reply running on
      // another instance then runs to its end.
      await kv.publish(cancelChannel, `user:${userId}`).catch((error) => {
        log.warn('could not announce a user’s replies to stop', { userId, error: (error as Error).message });
      });
    },
  };
}
