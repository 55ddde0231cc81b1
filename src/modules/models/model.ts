import { t } from 'elysia';
import { ToolCallId, ToolCallSchema, ToolChoiceSchema, ToolResultContent, toolsSchema } from '../../http/tool-schemas.ts';
import { Provider, ProviderInput } from '../../http/vocabulary.ts';

export const ModelList = t.Object({
  data: t.Array(
    t.Object({
      id: t.String(),
      provider: Provider,
      name: t.String(),
      capabilities: t.Array(t.String(), {
        description: '`chat` and `stream` for every model; `vision` for one that takes images (its provider’s *_VISION_MODELS list)',
      }),
    }),
  ),
});

const HistoryTurn = t.Union([
  t.Object(
    { role: t.Union([t.Literal('user'), t.Literal('assistant')]), content: t.String({ maxLength: 100_000 }) },
    { additionalProperties: false },
  ),
  t.Object(
    {
      role: t.Literal('assistant'),
      content: t.String({ maxLength: 100_000 }),
      toolCalls: t.Array(ToolCallSchema, {
        minItems: 1,
        maxItems: 128,
        description: 'The tools the model called (from a reply’s toolCalls)',
      }),
    },
    { additionalProperties: false },
  ),
  t.Object(
    {
      role: t.Literal('tool'),
      toolCallId: t.String({ ...ToolCallId, description: 'The id of the call it answers' }),
      content: ToolResultContent,
    },
    { additionalProperties: false },
  ),
]);

export const StatelessChatBody = t.Object(
  {
    message: t.Optional(
      t.String({
        minLength: 1,
        maxLength: 100_000,
        description: 'The user’s turn; may be left out only when `history` ends with tool results (the model answers them)',
      }),
    ),
    provider: t.Optional(ProviderInput),
    model: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    history: t.Optional(t.Array(HistoryTurn, { maxItems: 200 })),
    system: t.Optional(t.String({ maxLength: 20_000 })),
    temperature: t.Optional(t.Number({ minimum: 0, maximum: 2 })),
    maxTokens: t.Optional(t.Integer({ minimum: 1, maximum: 200_000 })),
    tools: t.Optional(
      toolsSchema(
        'Functions the model may call: a call ends the reply with finishReason tool_calls, its calls in `toolCalls` (SSE: `tool_call` events); echo ignores tools',
      ),
    ),
    toolChoice: t.Optional(ToolChoiceSchema),
    parallelToolCalls: t.Optional(t.Boolean({ description: 'false: at most one tool call per reply' })),
  },
  { additionalProperties: false },
);

export const StatelessReply = t.Object({
  reply: t.String(),
  provider: t.String(),
  model: t.String(),
  usage: t.Object({ inputTokens: t.Integer(), outputTokens: t.Integer() }),
  toolCalls: t.Optional(
    t.Array(ToolCallSchema, {
      description: 'Only when the model called tools: run them and send their results back as `tool` turns of `history`',
    }),
  ),
});

const Windows = t.Object({ perMinute: t.Integer(), perHour: t.Integer(), perDay: t.Integer() });
const orNull = () => t.Union([t.Integer(), t.Null()]);
const OpenWindows = t.Object({ perMinute: orNull(), perHour: orNull(), perDay: orNull() });

export const RateLimitStatus = t.Object({
  tier: t.Union([t.Literal('guest'), t.Literal('free'), t.Literal('pro'), t.Literal('enterprise')], {
    description: 'Whose limits apply: guest for guests, else the user’s tier (TIER_LIMITS_*)',
  }),
  limits: t.Object(Windows.properties, { description: 'LLM calls allowed per window; 0 = unlimited' }),
  remaining: t.Object(OpenWindows.properties, { description: 'LLM calls left per window; null when unlimited' }),
  resetSeconds: t.Object(
    { perMinute: t.Integer(), perHour: t.Integer(), perDay: t.Integer() },
    { description: 'Seconds until each window starts afresh' },
  ),
  concurrent: t.Object(
    {
      limit: t.Integer({ description: 'Replies that may be generating at once (TIER_LIMITS_* concurrent=); 0 = unlimited' }),
      active: t.Integer({ description: 'Replies generating now, on every instance' }),
      remaining: t.Union([t.Integer(), t.Null()], { description: 'null when unlimited' }),
    },
    { description: 'Concurrent replies; past the limit a new reply is refused with 429 rate_limited until one ends' },
  ),
  tokens: t.Object(
    {
      limit: t.Integer({ description: 'Tokens (input + output) allowed per calendar month, UTC; 0 = unlimited' }),
      used: t.Integer({ description: 'Tokens used this month' }),
      remaining: t.Union([t.Integer(), t.Null()], { description: 'null when unlimited' }),
      resetsAt: t.String({ format: 'date-time', description: 'The 1st of next month, 00:00 UTC' }),
    },
    { description: 'The monthly token budget; past it LLM calls are refused with 429 quota_exceeded' },
  ),
  general: t.Object(
    {
      limit: t.Integer({ description: 'API requests allowed per window from this IP (RATE_LIMIT_MAX_REQUESTS)' }),
      remaining: t.Integer(),
      reset: t.Integer({ description: 'Seconds until the window starts afresh' }),
    },
    { description: 'The general per-IP limit on the API (RATE_LIMIT_WINDOW_MS); IPv6 per /64' },
  ),
  storage: t.Object(
    {
      limit: t.Integer({ description: 'Bytes of files the tier may store (TIER_LIMITS_* storage=); 0 = unlimited' }),
      used: t.Integer({ description: 'Bytes of the caller’s files' }),
      remaining: t.Union([t.Integer(), t.Null()], { description: 'null when unlimited' }),
    },
    { description: 'The storage quota for files; an upload past it is refused with 413' },
  ),
  search: t.Object(
    {
      limit: t.Integer({ description: 'Searches allowed per minute (SEARCH_RATE_LIMIT_PER_MINUTE)' }),
      remaining: t.Integer(),
      reset: t.Integer({ description: 'Seconds until the window starts afresh' }),
    },
    { description: 'Chat searches (GET /chats/search), per user (guests per IP)' },
  ),
  uploads: t.Object(
    {
      limit: t.Integer({ description: 'Upload requests allowed per hour (UPLOAD_RATE_LIMIT_PER_HOUR)' }),
      remaining: t.Integer(),
      reset: t.Integer({ description: 'Seconds until the window starts afresh' }),
    },
    { description: 'Uploads (POST /files/upload and /files/upload-multiple), per user (guests per IP)' },
  ),
});

export const ModelBody = t.Object({ model: t.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
export const OllamaStatus = t.Object({ model: t.String(), installed: t.Boolean(), loaded: t.Boolean() });
