import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { t } from 'elysia';
import type { CallerResolver, UserCaller } from '../../http/auth.ts';
import { AppError } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import type { Unsubscribe } from '../../infra/kv/index.ts';
import { ChatMessageParams, ChatParams, SendMessageBody } from '../chats/model.ts';
import type { ChatsService } from '../chats/service.ts';
import type { RepliesService } from '../replies/service.ts';
import type { UserEvents } from './service.ts';

/** What a socket can do: send a frame (already JSON) and be closed. */
export type SocketPort = { send(frame: string): void; close(code: number, reason: string): void };

type Socket = {
  port: SocketPort;
  ip: string;
  caller: UserCaller | null;
  authTimer?: Timer;
  unsubscribe?: Promise<Unsubscribe>;
  /** Replies this socket is forwarding; aborted when it closes. */
  follows: Set<AbortController>;
  /** Set by close(): work that was awaiting when the socket went away must not attach to it. */
  closed: boolean;
};

// Frames take the same schemas as the matching HTTP requests (body of POST /chats/:id/messages,
// the ids of the chat routes), so a limit changed in one place holds for both.
const ChatSendFrame = TypeCompiler.Compile(
  t.Object(
    { ...SendMessageBody.properties, type: t.Literal('chat.send'), chatId: ChatParams.properties.id, requestId: t.Optional(t.Unknown()) },
    { additionalProperties: false },
  ),
);
const ChatCancelFrame = TypeCompiler.Compile(
  t.Object(
    { type: t.Literal('chat.cancel'), messageId: ChatMessageParams.properties.messageId, requestId: t.Optional(t.Unknown()) },
    { additionalProperties: false },
  ),
);

/** What is wrong with a frame, field by field, in the shape of an HTTP 422's details. */
function frameErrors(schema: TypeCheck<TSchema>, frame: unknown): { field: string; message: string }[] {
  return [...schema.Errors(frame)]
    .slice(0, 10)
    .map((error) => ({ field: `frame${error.path.replaceAll('/', '.')}`, message: error.message }));
}

const frameError = (code: string, message: string, extra: Record<string, unknown> = {}) => ({ type: 'error', code, message, ...extra });

/**
 * The websocket side of realtime: authenticates sockets, runs chat.send / chat.cancel through
 * the same services as HTTP (a reply is followed through its stream buffer), and relays the
 * owner's events from KV pub/sub. Everything a socket holds is released when it closes.
 */
export function createRealtimeHub(
  infra: Infra,
  deps: { resolveCaller: CallerResolver; chats: ChatsService; replies: RepliesService; events: UserEvents },
) {
  const sockets = new Map<string, Socket>();
  const authTimeoutMs = infra.config.wsAuthTimeoutMs;
  const send = (socket: Socket, frame: unknown) => {
    if (!socket.closed) socket.port.send(JSON.stringify(frame));
  };

  const authenticate = async (socket: Socket, token: string): Promise<boolean> => {
    try {
      const caller = await deps.resolveCaller(new Request('http://localhost/ws', { headers: { authorization: `Bearer ${token}` } }));
      if (!caller?.user) throw new AppError('unauthorized', 'Authentication required');
      socket.caller = caller as UserCaller;
    } catch (error) {
      const message = error instanceof AppError ? error.message : 'Authentication failed';
      send(socket, frameError('unauthorized', message));
      socket.port.close(4401, 'unauthorized');
      return false;
    }
    clearTimeout(socket.authTimer);
    if (socket.closed) return false;
    const userId = socket.caller.user.id;
    socket.unsubscribe = deps.events.subscribe(userId, (event) => send(socket, event));
    const unsubscribe = await socket.unsubscribe;
    // Closed while subscribing: close() may have run before the subscription existed.
    if (socket.closed) {
      await unsubscribe();
      return false;
    }
    send(socket, { type: 'ready', userId });
    return true;
  };

  const forwardReply = async (socket: Socket, streamId: string, requestId: unknown) => {
    const controller = new AbortController();
    socket.follows.add(controller);
    try {
      for await (const item of deps.replies.events(streamId, controller.signal)) {
        send(socket, { type: item.event, ...item.data, ...(requestId !== undefined ? { requestId } : {}) });
      }
    } finally {
      socket.follows.delete(controller);
    }
  };

  const handle = async (socket: Socket, frame: Record<string, unknown>) => {
    const requestId = frame.requestId;
    if (frame.type === 'ping') return send(socket, { type: 'pong' });
    if (frame.type === 'auth') {
      if (socket.caller) return send(socket, frameError('conflict', 'Already authenticated'));
      if (typeof frame.token !== 'string') return send(socket, frameError('validation_error', 'auth needs a token'));
      return void (await authenticate(socket, frame.token));
    }
    if (!socket.caller) return send(socket, frameError('unauthorized', 'Send {type:"auth", token} first'));
    if (frame.type === 'chat.send') {
      if (!ChatSendFrame.Check(frame))
        return send(
          socket,
          frameError('validation_error', 'Request validation failed', { details: frameErrors(ChatSendFrame, frame), requestId }),
        );
      const { type: _, chatId, requestId: __, ...body } = frame;
      const started = await deps.chats.send(socket.caller, socket.ip, chatId, body);
      // The reply goes on (it is stored either way); only a socket still open follows it.
      if (!socket.closed) void forwardReply(socket, started.streamId, requestId);
      return;
    }
    if (frame.type === 'chat.cancel') {
      if (!ChatCancelFrame.Check(frame))
        return send(
          socket,
          frameError('validation_error', 'Request validation failed', { details: frameErrors(ChatCancelFrame, frame), requestId }),
        );
      await deps.chats.cancelMessage(socket.caller.user.id, frame.messageId);
      return send(socket, { type: 'chat.cancelling', messageId: frame.messageId, ...(requestId !== undefined ? { requestId } : {}) });
    }
    send(socket, frameError('validation_error', `Unknown frame type ${JSON.stringify(frame.type)}`, { requestId }));
  };

  return {
    async open(id: string, port: SocketPort, ip: string, token: string | undefined) {
      const socket: Socket = { port, ip, caller: null, follows: new Set(), closed: false };
      sockets.set(id, socket);
      if (token) return void (await authenticate(socket, token));
      socket.authTimer = setTimeout(() => {
        if (socket.caller) return;
        send(socket, frameError('unauthorized', `No auth frame within ${authTimeoutMs} ms`));
        port.close(4401, 'authentication timeout');
      }, authTimeoutMs);
    },

    /** Never throws: a bad frame gets an error frame, and the socket stays open. */
    async message(id: string, raw: unknown) {
      const socket = sockets.get(id);
      if (!socket) return;
      let frame: unknown = raw;
      if (typeof raw === 'string') {
        try {
          frame = JSON.parse(raw);
        } catch {
          return send(socket, frameError('invalid_json', 'Frames are JSON objects'));
        }
      }
      if (!frame || typeof frame !== 'object' || Array.isArray(frame))
        return send(socket, frameError('validation_error', 'Frames are JSON objects with a type'));
      try {
        await handle(socket, frame as Record<string, unknown>);
      } catch (error) {
        const requestId = (frame as Record<string, unknown>).requestId;
        if (error instanceof AppError)
          return send(socket, frameError(error.code, error.message, requestId !== undefined ? { requestId } : {}));
        infra.log.error('websocket frame failed', { error });
        send(socket, frameError('internal_error', 'Internal server error'));
      }
    },

    async close(id: string) {
      const socket = sockets.get(id);
      if (!socket) return;
      sockets.delete(id);
      socket.closed = true;
      clearTimeout(socket.authTimer);
      for (const follow of socket.follows) follow.abort();
      const unsubscribe = await socket.unsubscribe?.catch(() => undefined);
      await unsubscribe?.();
    },

    /** For leak checks and metrics: what this instance holds right now. */
    stats: () => ({ sockets: sockets.size, follows: [...sockets.values()].reduce((sum, socket) => sum + socket.follows.size, 0) }),
  };
}

export type RealtimeHub = ReturnType<typeof createRealtimeHub>;
