import { Elysia, t } from 'elysia';
import type { RouteBundle } from '../../http/routes.ts';
import type { RealtimeHub } from './hub.ts';

/**
 * GET /api/v1/ws. Token in `?token=` or a first `{type:"auth", token}` frame. Bun sends pings
 * and closes idle sockets; a socket that stops reading is closed at the backpressure limit
 * (see the websocket options in app.ts) rather than buffered without bound.
 */
/** The protocol, for the OpenAPI document (which has no words for websocket frames). */
const protocol = [
  'Authenticate with `?token=<access token or API key>` or with a first frame `{"type":"auth","token":"…"}`; ' +
    'a socket that does not, or whose credentials end (logout, revoked session, disabled user, expiry), is closed with code 4401.',
  'Client frames (JSON text): `{"type":"chat.send","chatId","content","provider"?,"model"?}`, `{"type":"chat.cancel","messageId"}`, `{"type":"ping"}`.',
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
