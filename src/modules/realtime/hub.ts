import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { t } from 'elysia';
import type { CallerResolver, UserCaller } from '../../http/auth.ts';
import { AppError, knownError, unavailableFrom } from '../../http/errors.ts';
import { unfitFrame } from '../../http/input-check.ts';
import type { Infra } from '../../infra/index.ts';
import type { Unsubscribe } from '../../infra/kv/index.ts';
import { ChatMessageParams, ChatParams, SendMessageBody } from '../chats/model.ts';
import type { ChatsService } from '../chats/service.ts';
import type { RepliesService } from '../replies/service.ts';
import type { EndReason, LiveConnections, Watch } from './connections.ts';
import type { UserEvents } from './service.ts';

/** What a socket can do: send a frame (already JSON) and be closed. */
export type SocketPort = { send(frame: string): void; close(code: number, reason: string): void };

type Socket = {
  port: SocketPort;
  ip: string;
  caller: UserCaller | null;
  /** The credentials it authenticated with: acting frames check them again. */
  token?: string;
  /** Its hold on those credentials: ends (4401) when they are revoked, on any instance, or expire. */
  watch?: Watch;
  authTimer?: Timer;
  /**
   * The authentication under way (from `?token=` or an auth frame): frames that arrive before it
   * ends wait for it, so a client may send right after connecting without waiting for `ready`.
   */
  authenticating?: Promise<boolean>;
  unsubscribe?: Promise<Unsubscribe>;
  /** Replies this socket is forwarding; aborted when it closes. */
  follows: Set<AbortController>;
  /** Set by close(): work that was awaiting when the socket went away must not attach to it. */
  closed: boolean;
  /** Set when its credentials ended (it is then closed too): no frame of it acts any more. */
  revoked?: boolean;
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

const resolveToken = (resolveCaller: CallerResolver, token: string) =>
  resolveCaller(new Request('http://localhost/ws', { headers: { authorization: `Bearer ${token}` } }));

/**
 * The websocket side of realtime: authenticates sockets, runs chat.send / chat.cancel through
 * the same services as HTTP (a reply is followed through its stream buffer), and relays the
 * owner's events from KV pub/sub. Everything a socket holds is released when it closes.
 *
 * A socket keeps its rights only as long as its credentials: it is watched (`live`) and closed
 * with an `error {code: "unauthorized"}` frame and code 4401 as soon as its session is ended,
 * its API key revoked or its user disabled (on any instance), or its token or key expires. A
 * frame that acts (chat.send, chat.cancel) checks the credentials again first, like the HTTP
 * request it stands for, so one racing the close stores nothing and calls nothing. A reply the
 * socket started before that runs on (it was admitted, and is stored); the socket stops
 * following it. (Disabling a user stops their replies too: see the admin module.)
 */
export function createRealtimeHub(
  infra: Infra,
  deps: { resolveCaller: CallerResolver; chats: ChatsService; replies: RepliesService; events: UserEvents; live: LiveConnections },
) {
  const sockets = new Map<string, Socket>();
  const authTimeoutMs = infra.config.wsAuthTimeoutMs;
  const send = (socket: Socket, frame: unknown) => {
    if (!socket.closed) socket.port.send(JSON.stringify(frame));
  };

  /** The socket's credentials ended: one error frame, then 4401; from here on it does nothing. */
  const revoke = (socket: Socket, reason: EndReason) => {
    socket.revoked = true;
    if (socket.closed) return;
    send(socket, frameError(reason.code, reason.message));
    socket.closed = true;
    for (const follow of socket.follows) follow.abort();
    socket.port.close(4401, 'unauthorized');
  };

  /** The KV or the database is away: the socket could only hang, so it is told why and closed (1013: try again later). */
  const closeUnavailable = (socket: Socket, error: AppError) => {
    send(socket, frameError(error.code, error.message));
    socket.port.close(1013, 'unavailable');
    return false;
  };

  const authenticate = async (socket: Socket, token: string): Promise<boolean> => {
    // Revocations heard from here on end the socket even if the check below read the database before them.
    const since = performance.now();
    let caller: UserCaller;
    try {
      const resolved = await resolveToken(deps.resolveCaller, token);
      if (!resolved?.user) throw new AppError('unauthorized', 'Authentication required');
      caller = resolved as UserCaller;
    } catch (error) {
      const outage = unavailableFrom(error);
      if (outage) return closeUnavailable(socket, outage);
      const message = error instanceof AppError ? error.message : 'Authentication failed';
      send(socket, frameError('unauthorized', message));
      socket.port.close(4401, 'unauthorized');
      return false;
    }
    clearTimeout(socket.authTimer);
    if (socket.closed) return false;
    socket.caller = caller;
    socket.token = token;
    socket.watch = deps.live.watch(caller, since, (reason) => revoke(socket, reason));
    // Revoked or expired already.
    if (socket.closed) return false;
    const userId = caller.user.id;
    socket.unsubscribe = deps.events.subscribe(userId, (event) => send(socket, event));
    let unsubscribe: Unsubscribe;
    try {
      unsubscribe = await socket.unsubscribe;
    } catch (error) {
      return closeUnavailable(socket, unavailableFrom(error) ?? new AppError('unavailable', 'Live events are unavailable right now'));
    }
    // Closed while subscribing: close() may have run before the subscription existed.
    if (socket.closed) {
      await unsubscribe();
      return false;
    }
    send(socket, { type: 'ready', userId });
    return true;
  };

  /**
   * The caller an acting frame runs as: the socket's credentials checked again, as the HTTP
   * request the frame stands for would be (and with the user's current role and tier). Null
   * when they no longer hold; the socket is then closed (4401).
   */
  const authorized = async (socket: Socket): Promise<UserCaller | null> => {
    // A socket the client just closed may still finish the frame it sent (as a request would); a revoked one may not.
    if (socket.revoked || !socket.token || !socket.watch || socket.watch.ended) return null;
    let caller: Awaited<ReturnType<CallerResolver>>;
    try {
      caller = await resolveToken(deps.resolveCaller, socket.token);
    } catch (error) {
      // Refused credentials (401, 403) end the socket; anything else (the database is down) fails this frame only.
      if (!(error instanceof AppError) || (error.code !== 'unauthorized' && error.code !== 'forbidden')) throw error;
      revoke(socket, { code: 'unauthorized', message: error.message });
      return null;
    }
    if (!caller?.user) {
      revoke(socket, { code: 'unauthorized', message: 'Authentication required' });
      return null;
    }
    // A revocation heard while the database was read wins.
    if (socket.revoked || socket.watch.ended) return null;
    socket.caller = caller as UserCaller;
    return socket.caller;
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
      if (socket.caller || socket.authenticating) return send(socket, frameError('conflict', 'Already authenticated'));
      if (typeof frame.token !== 'string') return send(socket, frameError('validation_error', 'auth needs a token'));
      socket.authenticating = authenticate(socket, frame.token);
      return void (await socket.authenticating);
    }
    // Frames sent right behind the credentials run once they are checked (a refusal closes the socket).
    if (!socket.caller && socket.authenticating) await socket.authenticating;
    if (socket.closed) return;
    if (!socket.caller) return send(socket, frameError('unauthorized', 'Send {type:"auth", token} first'));
    if (frame.type === 'chat.send') {
      const caller = await authorized(socket);
      if (!caller) return;
      if (!ChatSendFrame.Check(frame))
        return send(
          socket,
          frameError('validation_error', 'Request validation failed', { details: frameErrors(ChatSendFrame, frame), requestId }),
        );
      // Decoded as the HTTP body is: a provider alias (`claude`) becomes its canonical name.
      const { type: _, chatId, requestId: __, ...body } = ChatSendFrame.Decode(frame);
      const started = await deps.chats.send(caller, socket.ip, chatId, body);
      // The reply goes on (it is stored either way); only a socket still open follows it.
      if (!socket.closed) void forwardReply(socket, started.streamId, requestId);
      return;
    }
    if (frame.type === 'chat.cancel') {
      const caller = await authorized(socket);
      if (!caller) return;
      if (!ChatCancelFrame.Check(frame))
        return send(
          socket,
          frameError('validation_error', 'Request validation failed', { details: frameErrors(ChatCancelFrame, frame), requestId }),
        );
      await deps.chats.cancelMessage(caller.user.id, frame.messageId);
      return send(socket, { type: 'chat.cancelling', messageId: frame.messageId, ...(requestId !== undefined ? { requestId } : {}) });
    }
    send(socket, frameError('validation_error', `Unknown frame type ${JSON.stringify(frame.type)}`, { requestId }));
  };

  return {
    async open(id: string, port: SocketPort, ip: string, token: string | undefined) {
      const socket: Socket = { port, ip, caller: null, follows: new Set(), closed: false };
      sockets.set(id, socket);
      if (token) {
        socket.authenticating = authenticate(socket, token);
        return void (await socket.authenticating);
      }
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
      const unfit = unfitFrame(frame); // no U+0000, lone surrogate or deep nesting: the same check as HTTP input
      if (unfit) return send(socket, unfit);
      try {
        await handle(socket, frame as Record<string, unknown>);
      } catch (error) {
        const requestId = (frame as Record<string, unknown>).requestId;
        const known = knownError(error);
        if (known) return send(socket, frameError(known.code, known.message, requestId !== undefined ? { requestId } : {}));
        infra.log.error('websocket frame failed', { error });
        send(socket, frameError('internal_error', 'Internal server error'));
      }
    },

    async close(id: string) {
      const socket = sockets.get(id);
      if (!socket) return;
      sockets.delete(id);
      socket.closed = true;
      socket.watch?.release();
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
