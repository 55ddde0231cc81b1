import { t } from 'elysia';
import { Provider } from '../../http/vocabulary.ts';

export const ModelList = t.Object({
  data: t.Array(t.Object({ id: t.String(), provider: Provider, name: t.String(), capabilities: t.Array(t.String()) })),
});

export const StatelessChatBody = t.Object(
  {
    message: t.String({ minLength: 1, maxLength: 100_000 }),
    provider: t.Optional(Provider),
    model: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    history: t.Optional(
      t.Array(t.Object({ role: t.Union([t.Literal('user'), t.Literal('assistant')]), content: t.String({ maxLength: 100_000 }) }), {
        maxItems: 200,
      }),
    ),
    system: t.Optional(t.String({ maxLength: 20_000 })),
    temperature: t.Optional(t.Number({ minimum: 0, maximum: 2 })),
    maxTokens: t.Optional(t.Integer({ minimum: 1, maximum: 200_000 })),
  },
  { additionalProperties: false },
);

export const StatelessReply = t.Object({
  reply: t.String(),
  provider: t.String(),
  model: t.String(),
  usage: t.Object({ inputTokens: t.Integer(), outputTokens: t.Integer() }),
});

const Windows = t.Object({ perMinute: t.Integer(), perHour: t.Integer(), perDay: t.Integer() });
export const RateLimitStatus = t.Object({
  limits: Windows,
  remaining: Windows,
  resetSeconds: t.Object(
    { perMinute: t.Integer(), perHour: t.Integer(), perDay: t.Integer() },
    { description: 'Seconds until each window starts afresh' },
  ),
  search: t.Object(
    {
      limit: t.Integer({ description: 'Searches allowed per minute (SEARCH_RATE_LIMIT_PER_MINUTE)' }),
      remaining: t.Integer(),
      reset: t.Integer({ description: 'Seconds until the window starts afresh' }),
    },
    { description: 'Chat searches (GET /chats/search), per user (guests per IP)' },
  ),
});

export const ModelBody = t.Object({ model: t.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
export const OllamaStatus = t.Object({ model: t.String(), installed: t.Boolean(), loaded: t.Boolean() });
