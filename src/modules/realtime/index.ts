import { Elysia, t } from 'elysia';
import type { RouteBundle } from '../../http/routes.ts';
import type { RealtimeHub } from './hub.ts';

/**
 * GET /api/v1/ws. Token in `?token=` or a first `{type:"auth", token}` frame. Bun sends pings
 * and closes idle sockets; a socket that stops reading is closed at the backpressure limit
 * (see the websocket options in app.ts) rather than buffered without bound.
 */
export function realtimeModule({ hub, routes }: { hub: RealtimeHub; routes: RouteBundle }) {
  return new Elysia({ name: 'realtime' }).use(routes.ip()).ws('/api/v1/ws', {
    query: t.Object({ token: t.Optional(t.String({ maxLength: 4096 })) }),
    detail: { tags: ['Realtime'], summary: 'WebSocket: chat.send, chat.cancel, ping; start/delta/done/error and message.created events' },
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
