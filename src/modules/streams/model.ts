import { t } from 'elysia';
import { eventIdPattern } from '../../http/event-id.ts';

export const CreateStreamBody = t.Object(
  {
    ttlSeconds: t.Optional(
      t.Integer({ minimum: 10, maximum: 7 * 86400, description: 'How long the events stay replayable (default STREAM_TTL_SECONDS)' }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Event names a client may append: one line, no colon, and not starting with `__`, the prefix of
 * the stream's own markers (`__end` closes it: see src/infra/kv/stream-buffers.ts).
 */
const eventNamePattern = '^(?!__)[^\\r\\n:]+$';

export const AppendBody = t.Object(
  {
    event: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 100,
        pattern: eventNamePattern,
        description: 'SSE event name (default "message"); names starting with `__` are reserved for the stream itself (422)',
      }),
    ),
    data: t.Unknown({ description: 'Any JSON value; delivered as the event’s data: line, JSON-encoded' }),
  },
  { additionalProperties: false },
);

export const StreamParams = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });
export const StreamQuery = t.Object({
  after: t.Optional(t.String({ maxLength: 64, pattern: eventIdPattern, description: 'Resume after this event id' })),
});

export const StreamCreated = t.Object({ id: t.String(), ttlSeconds: t.Integer() });
export const Appended = t.Object({ id: t.String({ description: 'The event id' }) });

export const StreamDump = t.Object({
  id: t.String(),
  kind: t.Union([t.Literal('generation'), t.Literal('generic')]),
  closed: t.Boolean(),
  events: t.Array(t.Object({ id: t.String(), event: t.String(), data: t.Unknown() })),
});
