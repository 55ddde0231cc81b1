import { Elysia, t } from 'elysia';
import type { Caller, UserCaller } from '../../http/auth.ts';
import { requestInfo } from '../../http/request-context.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { sseEnder, streamSettled } from '../../http/sse.ts';
import type { LiveConnections } from './connections.ts';
import type { RealtimeHub } from './hub.ts';

/**
 * GET /api/v1/ws. Token in `?token=` or a first `{type:"auth", token}` frame. Bun sends pings
 * and closes idle sockets; a socket that stops reading is closed at the backpressure limit
 * (see the websocket options in app.ts) rather than buffered without bound.
 */
/** The protocol, for the OpenAPI document (which has no words for websocket frames). */
const protocol = [
  'Authenticate with `?token=<access token or API key>` or with a first frame `{"type":"auth","token":"…"}`; ' +
    'a socket that does not is closed with code 4401.',
  'A socket keeps its rights only as long as its credentials: within 1 s of logout, logout-all, the session being ended, ' +
    'the API key being revoked or the user being disabled (on any instance), and when the access token or API key expires, ' +
    'it gets `{"type":"error","code":"unauthorized","message"}` and is closed with code 4401 (if the notice between instances ' +
    'is lost while Redis is away: within about a second of Redis coming back, and within `REVOCATION_RECHECK_MS` in any case). ' +
    'A `chat.send` or `chat.cancel` ' +
    'checks the credentials again before it acts. A reply started before that runs to its end and is stored ' +
    '(read it with `GET /streams/:streamId` once signed in again); a disabled user’s replies are stopped.',
  'Client frames (JSON text): `{"type":"chat.send","chatId","content"?,"attachments"?,"toolResults"?,"tools"?,"toolChoice"?,"provider"?,"model"?}` (the body of POST /chats/:id/messages; `tool_call` frames carry the calls a reply makes), `{"type":"chat.cancel","messageId"}`, `{"type":"ping"}`.',
  'Server frames: `start`, `delta` {text}, `reasoning` {text}, `done`, `error` with the SSE payload’s fields beside `type`; ' +
    '`{"type":"pong"}`; and `{"type":"message.created","chatId","message"}` to every socket of the chat’s owner, on every instance.',
].join('\n\n');

export function realtimeModule({ hub, routes }: { hub: RealtimeHub; routes: RouteBundle }) {
  return new Elysia({ name: 'realtime' }).use(routes.ip()).ws('/api/v1/ws', {
    query: t.Object({ token: t.Optional(t.String({ maxLength: 4096 })) }),
    detail: {
      tags: ['Realtime'],
      summary: 'WebSocket: chat.send, chat.cancel, ping; start/delta/reasoning/done/error and message.created events',
      description: protocol,
    },
    async open(ws) {
      await hub.open(
        ws.id,
        { send: (frame) => ws.send(frame), close: (code, reason) => ws.close(code, reason) },
        ws.data.ip,
        ws.data.query.token,
      );
    },
    async message(ws, message) {
      await hub.message(ws.id, message);
    },
    async close(ws) {
      await hub.close(ws.id);
    },
  });
}

/**
 * Ends every SSE response that reads a stream (a reply streamed by `POST /chats/:id/messages`
 * and its siblings, `GET /streams/:id`, the OpenAI-compatible streams) when its caller's
 * credentials are revoked (on any instance) or expire: an `error` event
 * `{code: "unauthorized", message}`, then the end. The event carries the id of the last event
 * sent, so `Last-Event-ID` resumes without a gap once signed in again. The reply itself runs on.
 *
 * A global hook: use it before the modules whose routes it guards.
 */
export function liveSseGuard(live: LiveConnections) {
  return new Elysia({ name: 'live-sse' }).onAfterHandle({ as: 'global' }, (context) => {
    const response = context.responseValue;
    const end = sseEnder(response);
    if (!end) return;
    const caller = (context as { caller?: Caller | null }).caller;
    if (!caller?.user) return;
    // The request's start: the caller was resolved after it, so a revocation heard since may be newer than what was read.
    const since = requestInfo(context.request)?.startedAt ?? performance.now();
    const watch = live.watch(caller as UserCaller, since, (reason) =>
      end((lastId) => ({ id: lastId ?? '0-0', event: 'error', data: JSON.stringify(reason) })),
    );
    void streamSettled(response)?.then(() => watch.release());
  });
}
