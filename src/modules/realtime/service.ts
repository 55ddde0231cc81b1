import type { Infra } from '../../infra/index.ts';

/** What the owner's sockets hear about their own data, whichever route or instance changed it. */
export type UserEvent =
  | { type: 'message.created'; chatId: string; message: unknown }
  | { type: 'message.updated'; chatId: string; message: unknown }
  | { type: 'chat.updated'; chatId: string; chat: unknown }
  | { type: 'chat.deleted'; chatId: string }
  /** A pipeline execution moved on: its status, and the step that changed (null for the execution itself). */
  | { type: 'pipeline.updated'; pipelineId: string; executionId: string; status: string; step: { id: string; status: string } | null };

const channel = (userId: string) => `user:${userId}:events`;

/** Per-user events over KV pub/sub (the realtime room's door for other modules), so every instance's sockets of that user hear them. */
export function createUserEvents({ kv, log }: Pick<Infra, 'kv' | 'log'>) {
  return {
    /** Never throws: a lost notification must not fail the request that caused it. */
    async publish(userId: string, event: UserEvent): Promise<void> {
      try {
        await kv.publish(channel(userId), JSON.stringify(event));
      } catch (error) {
        log.warn('could not publish a user event', { type: event.type, error: (error as Error).message });
      }
    },
    subscribe(userId: string, listener: (event: UserEvent) => void) {
      return kv.subscribe(channel(userId), (message) => listener(JSON.parse(message) as UserEvent));
    },
  };
}

export type UserEvents = ReturnType<typeof createUserEvents>;

export { createLiveConnections, type EndReason, type LiveConnections, type Watch } from './connections.ts';
export { createRealtimeHub, type RealtimeHub, type SocketPort } from './hub.ts';
