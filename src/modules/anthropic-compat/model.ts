// Anthropic's Messages API as Parley takes and answers it (docs.anthropic.com/en/api/messages):
// the request's blocks, tools and options, the Message object, count_tokens and the error shape.
import { type TSchema, t } from 'elysia';

/** Most characters one text (a string content, a block's text) may hold. */
export const maxTextLength = 100_000;

/** A field Anthropic's clients may send as null for "the default"; a null is treated as absent. */
const Opt = <T extends TSchema>(schema: T) => t.Optional(t.Union([schema, t.Null()]));

/** A free-form object passed through or ignored (JSON Schemas, cache_control, citations). */
const FreeObject = (description: string) => t.Object({}, { additionalProperties: true, description });
const CacheControl = Opt(FreeObject('Prompt caching: accepted and ignored'));

const Text = t.String({ maxLength: maxTextLength });

const TextBlock = t.Object(
  { type: t.Literal('text'), text: Text, cache_control: CacheControl, citations: Opt(t.Array(FreeObject('Accepted and ignored'))) },
  { additionalProperties: true },
);
const ImageBlock = t.Object(
  {
    type: t.Literal('image'),
    source: t.Union([
      t.Object({
        type: t.Literal('base64'),
        media_type: t.Union([t.Literal('image/png'), t.Literal('image/jpeg'), t.Literal('image/gif'), t.Literal('image/webp')]),
        data: t.String({ maxLength: 1_400_000, description: 'Standard base64 of the image (within the 1 MiB body limit)' }),
      }),
      t.Object({ type: t.Literal('url'), url: t.String({ maxLength: 2048, description: 'An http(s) URL the provider fetches' }) }),
    ]),
    cache_control: CacheControl,
  },
  { additionalProperties: true },
);
const ToolUseBlock = t.Object(
  {
    type: t.Literal('tool_use'),
    id: t.String({ minLength: 1, maxLength: 256 }),
    name: t.String({ minLength: 1, maxLength: 128 }),
    input: FreeObject('The arguments the model gave'),
    cache_control: CacheControl,
  },
  { additionalProperties: true },
);
const ToolResultBlock = t.Object(
  {
    type: t.Literal('tool_result'),
    tool_use_id: t.String({ minLength: 1, maxLength: 256 }),
    content: t.Optional(
      t.Union([Text, t.Array(t.Union([TextBlock, ImageBlock]), { maxItems: 50 })], {
        description: 'Text, or text blocks (joined); an image in a tool result is refused (400): every provider takes text results only',
      }),
    ),
    is_error: Opt(t.Boolean({ description: 'true: the result goes to the model as `Error: <content>`' })),
    cache_control: CacheControl,
  },
  { additionalProperties: true },
);
const ThinkingBlock = t.Object(
  {
    type: t.Literal('thinking'),
    thinking: t.String({ maxLength: maxTextLength }),
    signature: t.Optional(t.String({ maxLength: 100_000 })),
  },
  { additionalProperties: true, description: 'An earlier reply’s thinking, sent back: accepted and not sent upstream' },
);
const RedactedThinkingBlock = t.Object(
  { type: t.Literal('redacted_thinking'), data: t.String({ maxLength: maxTextLength }) },
  { additionalProperties: true, description: 'Accepted and not sent upstream' },
);
const DocumentBlock = t.Object(
  { type: t.Literal('document'), source: FreeObject('A PDF or text source') },
  { additionalProperties: true, description: 'Refused (400 naming the block): upload documents to /api/v1/files and send their text' },
);

const ContentBlock = t.Union([TextBlock, ImageBlock, ToolUseBlock, ToolResultBlock, ThinkingBlock, RedactedThinkingBlock, DocumentBlock]);

/** One turn of the conversation, as the Messages API takes it. */
export const AnthropicMessageParam = t.Object({
  role: t.Union([t.Literal('user'), t.Literal('assistant')]),
  content: t.Union([Text, t.Array(ContentBlock, { maxItems: 200 })]),
});

const Tool = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 128, pattern: '^[a-zA-Z0-9_-]{1,128}$' }),
    description: t.Optional(t.String({ maxLength: 10_000 })),
    input_schema: t.Optional(FreeObject('A JSON Schema object for the tool’s input')),
    type: Opt(
      t.String({
        maxLength: 64,
        description: '`custom` or absent; Anthropic’s server tools (web_search_…, code_execution_…, …) are refused (400): Parley runs none',
      }),
    ),
    strict: Opt(t.Boolean()),
    cache_control: CacheControl,
  },
  { additionalProperties: true },
);

const Parallel = t.Optional(t.Boolean({ description: 'true: at most one tool call' }));
const ToolChoice = t.Union([
  t.Object({ type: t.Literal('auto'), disable_parallel_tool_use: Parallel }),
  t.Object({ type: t.Literal('any'), disable_parallel_tool_use: Parallel }),
  t.Object({ type: t.Literal('tool'), name: t.String({ maxLength: 128 }), disable_parallel_tool_use: Parallel }),
  t.Object({ type: t.Literal('none') }),
]);

const Effort = t.Union([t.Literal('low'), t.Literal('medium'), t.Literal('high'), t.Literal('xhigh'), t.Literal('max')]);

export const MessagesBody = t.Object(
  {
    model: t.String({
      minLength: 1,
      maxLength: 200,
      description:
        '`provider/model` (as GET /v1/models lists them: `anthropic/claude-…`, `openai/…`, `echo/echo`) or a model of the default provider',
    }),
    max_tokens: t.Integer({ minimum: 1, maximum: 200_000, description: 'Required, as Anthropic requires it' }),
    messages: t.Array(AnthropicMessageParam, { minItems: 1, maxItems: 500 }),
    system: t.Optional(t.Union([Text, t.Array(TextBlock, { maxItems: 50 })], { description: 'Text blocks are joined by a blank line' })),
    stream: Opt(t.Boolean()),
    temperature: Opt(
      t.Number({
        minimum: 0,
        maximum: 1,
        description: 'Sent to OpenAI-compatible providers; not to anthropic, whose API (version 2026-10-21) refuses sampling parameters',
      }),
    ),
    top_p: Opt(t.Number({ minimum: 0, maximum: 1, description: 'Sent to OpenAI-compatible providers (openai, ollama); not to anthropic' })),
    top_k: Opt(t.Integer({ minimum: 0, maximum: 1_000_000, description: 'Accepted and ignored: no provider path takes it' })),
    stop_sequences: Opt(
      t.Array(t.String({ maxLength: 1000 }), {
        maxItems: 16,
        description:
          'Sent to every provider but echo (OpenAI-compatible ones as `stop`, which takes up to 4: more is upstream’s 400). stop_reason is `stop_sequence` (naming it in stop_sequence) when anthropic says one ended the reply; OpenAI-compatible providers do not say: `end_turn`',
      }),
    ),
    metadata: Opt(
      t.Object(
        { user_id: Opt(t.String({ maxLength: 256 })) },
        { additionalProperties: true, description: 'user_id is sent on as the end-user id (OpenAI `user`, Anthropic metadata.user_id)' },
      ),
    ),
    tools: Opt(t.Array(Tool, { maxItems: 128 })),
    tool_choice: Opt(ToolChoice),
    thinking: Opt(
      t.Object(
        {
          type: t.Union([t.Literal('enabled'), t.Literal('disabled'), t.Literal('adaptive')]),
          budget_tokens: t.Optional(t.Integer({ minimum: 0, maximum: 200_000 })),
        },
        {
          additionalProperties: true,
          description:
            'enabled: a reasoning effort from budget_tokens (below 4096 low, below 16384 medium, else high) unless output_config.effort names one; enabled or adaptive: the model’s thinking comes back as thinking blocks (with an empty signature)',
        },
      ),
    ),
    output_config: Opt(
      t.Object(
        {
          effort: Opt(Effort),
          format: Opt(
            t.Object(
              { type: t.Literal('json_schema'), schema: FreeObject('A JSON Schema') },
              { additionalProperties: true, description: 'Structured output: sent as each provider’s JSON-schema response format' },
            ),
          ),
        },
        { additionalProperties: true },
      ),
    ),
    mcp_servers: Opt(
      t.Array(FreeObject('An MCP server'), { maxItems: 20, description: 'Refused when not empty (400): Parley connects to none' }),
    ),
  },
  {
    additionalProperties: true,
    description: 'Other Messages API fields (service_tier, cache_control, container, context_management, …) are accepted and ignored',
  },
);
export type MessagesBody = typeof MessagesBody.static;
export type AnthropicMessageParam = typeof AnthropicMessageParam.static;

export const CountTokensBody = t.Object(
  {
    model: MessagesBody.properties.model,
    messages: MessagesBody.properties.messages,
    system: MessagesBody.properties.system,
    tools: MessagesBody.properties.tools,
    tool_choice: MessagesBody.properties.tool_choice,
    thinking: MessagesBody.properties.thinking,
    output_config: MessagesBody.properties.output_config,
  },
  { additionalProperties: true },
);
export type CountTokensBody = typeof CountTokensBody.static;

export const CountTokens = t.Object({ input_tokens: t.Integer({ description: 'Estimated: about 4 characters a token, 1000 an image' }) });

const ResponseBlock = t.Union([
  t.Object({ type: t.Literal('text'), text: t.String() }),
  t.Object({ type: t.Literal('thinking'), thinking: t.String(), signature: t.String() }),
  t.Object({ type: t.Literal('tool_use'), id: t.String(), name: t.String(), input: FreeObject('The arguments the model gave') }),
]);

export const AnthropicMessage = t.Object({
  id: t.String({ description: 'msg_…' }),
  type: t.Literal('message'),
  role: t.Literal('assistant'),
  model: t.String({ description: 'provider/model that answered' }),
  content: t.Array(ResponseBlock),
  stop_reason: t.Union([t.String({ description: 'end_turn, max_tokens, stop_sequence, tool_use, refusal' }), t.Null()]),
  stop_sequence: t.Union([t.String(), t.Null()], {
    description:
      'The stop sequence that ended the reply, where the provider says which (anthropic); OpenAI-compatible providers do not: end_turn',
  }),
  usage: t.Object({
    input_tokens: t.Integer(),
    output_tokens: t.Integer(),
    cache_creation_input_tokens: t.Integer(),
    cache_read_input_tokens: t.Integer(),
  }),
});

/** Anthropic's error shape, which every error of the /v1/messages routes takes. */
export const AnthropicError = t.Object({
  type: t.Literal('error'),
  error: t.Object({
    type: t.String({
      description:
        'invalid_request_error, authentication_error, permission_error, not_found_error, request_too_large, rate_limit_error, api_error, overloaded_error',
    }),
    message: t.String(),
  }),
});
