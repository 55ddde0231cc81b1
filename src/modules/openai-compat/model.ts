import { type TSchema, t } from 'elysia';

/** Most characters one message's content may hold, whether a string or text parts (each part is held to it). */
export const maxContentLength = 100_000;

/**
 * OpenAI's optional fields take `null` for "the default", as its reference and SDKs allow, so
 * every one of them here is the value's schema or null; a null is then treated as absent.
 */
const Nullable = <T extends TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Opt = <T extends TSchema>(schema: T) => t.Optional(Nullable(schema));

/** A JSON Schema, or any other free-form object OpenAI passes through (tool parameters, metadata of parts). */
const FreeObject = (description: string) => t.Object({}, { additionalProperties: true, description });

const Penalty = (description: string) => Opt(t.Number({ minimum: -2, maximum: 2, description }));

const TextPart = t.Object({ type: t.Literal('text'), text: t.String({ maxLength: maxContentLength }) });
const ImageUrlPart = t.Object({
  type: t.Literal('image_url'),
  image_url: t.Object({
    url: t.String({
      maxLength: 1_400_000,
      description: 'An http(s) URL, or a base64 `data:` URL of a PNG, JPEG, GIF or WebP image (within the 1 MiB body limit)',
    }),
    detail: t.Optional(t.Union([t.Literal('auto'), t.Literal('low'), t.Literal('high')], { description: 'Accepted and ignored' })),
  }),
});
const AudioPart = t.Object(
  { type: t.Literal('input_audio'), input_audio: FreeObject('{data, format}') },
  { description: 'Refused (400 naming the part): no provider path takes audio in a chat turn; use /api/v1/voice' },
);
const FilePart = t.Object(
  { type: t.Literal('file'), file: FreeObject('{file_data?, file_id?, filename?}') },
  { description: 'Refused (400 naming the part): upload files to /api/v1/files and analyze them there' },
);
const RefusalPart = t.Object({ type: t.Literal('refusal'), refusal: t.String({ maxLength: maxContentLength }) });

const TextContent = t.Union([t.String({ maxLength: maxContentLength }), t.Array(TextPart, { maxItems: 50 })]);
const UserContent = t.Union([
  t.String({ maxLength: maxContentLength }),
  t.Array(t.Union([TextPart, ImageUrlPart, AudioPart, FilePart]), { maxItems: 50 }),
]);

const ToolCallSchema = t.Object({
  id: t.String({ minLength: 1, maxLength: 256 }),
  type: t.Literal('function'),
  function: t.Object({ name: t.String({ minLength: 1, maxLength: 256 }), arguments: t.String({ maxLength: maxContentLength }) }),
});

const Name = t.Optional(t.String({ maxLength: 256, description: 'Accepted; not sent upstream' }));

const SystemMessage = t.Object({
  role: t.Union([t.Literal('system'), t.Literal('developer')]),
  content: TextContent,
  name: Name,
});
const UserMessage = t.Object({ role: t.Literal('user'), content: UserContent, name: Name });
const AssistantMessage = t.Object({
  role: t.Literal('assistant'),
  content: t.Optional(
    Nullable(t.Union([t.String({ maxLength: maxContentLength }), t.Array(t.Union([TextPart, RefusalPart]), { maxItems: 50 })])),
  ),
  name: Name,
  tool_calls: t.Optional(t.Array(ToolCallSchema, { maxItems: 128 })),
  refusal: Opt(t.String({ maxLength: maxContentLength, description: 'Accepted; not sent upstream' })),
  audio: Opt(t.Object({ id: t.String({ maxLength: 256 }) }, { description: 'Accepted and ignored' })),
  function_call: Opt(FreeObject('Deprecated: refused (400); send tool_calls')),
});
const ToolMessage = t.Object({ role: t.Literal('tool'), content: TextContent, tool_call_id: t.String({ minLength: 1, maxLength: 256 }) });
const FunctionMessage = t.Object(
  { role: t.Literal('function'), content: Nullable(t.String({ maxLength: maxContentLength })), name: t.String({ maxLength: 256 }) },
  { description: 'Deprecated: refused (400); send a tool message' },
);

/** One message of the conversation, as OpenAI's Chat Completions takes it. */
export const CompletionMessage = t.Union([SystemMessage, UserMessage, AssistantMessage, ToolMessage, FunctionMessage]);

const ResponseFormat = t.Union(
  [
    t.Object({ type: t.Literal('text') }, { additionalProperties: false }),
    t.Object({ type: t.Literal('json_object') }, { additionalProperties: false }),
    t.Object(
      {
        type: t.Literal('json_schema'),
        json_schema: t.Object(
          {
            name: t.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' }),
            description: t.Optional(t.String({ maxLength: 10_000 })),
            schema: t.Optional(FreeObject('A JSON Schema')),
            strict: Opt(t.Boolean()),
          },
          { additionalProperties: false },
        ),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'Sent to OpenAI-compatible providers (openai, ollama) as given; to anthropic a json_schema goes as output_config.format (json_object has no counterpart there); echo ignores it',
  },
);

const Tool = t.Object({
  type: t.Union([t.Literal('function'), t.Literal('custom')], { description: 'function; custom tools are refused (400 naming the tool)' }),
  function: t.Optional(
    t.Object({
      name: t.String({ maxLength: 64, pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
      description: t.Optional(t.String({ maxLength: 10_000 })),
      parameters: t.Optional(FreeObject('A JSON Schema object for the arguments')),
      strict: Opt(t.Boolean()),
    }),
  ),
  custom: t.Optional(FreeObject('A custom tool: refused')),
});

const NamedChoice = t.Object({ type: t.Literal('function'), function: t.Object({ name: t.String({ maxLength: 64 }) }) });
const ToolChoice = t.Union(
  [
    t.Literal('none'),
    t.Literal('auto'),
    t.Literal('required'),
    NamedChoice,
    t.Object({
      type: t.Literal('allowed_tools'),
      allowed_tools: t.Object({
        mode: t.Union([t.Literal('auto'), t.Literal('required')]),
        tools: t.Array(NamedChoice, { maxItems: 128 }),
      }),
    }),
    t.Object({ type: t.Literal('custom'), custom: t.Object({ name: t.String({ maxLength: 64 }) }) }),
  ],
  { description: 'Sent on in each provider’s words (Anthropic: auto, any, tool, none)' },
);

export const CompletionBody = t.Object({
  model: t.String({
    minLength: 1,
    maxLength: 200,
    description: '`provider/model` (as GET /v1/models lists them) or a model of the default provider',
  }),
  messages: t.Array(CompletionMessage, {
    minItems: 1,
    maxItems: 200,
    description:
      'system and developer messages anywhere are joined, in order, into the system prompt; the conversation may end with any role',
  }),
  stream: Opt(t.Boolean()),
  stream_options: Opt(
    t.Object(
      {
        include_usage: t.Optional(t.Boolean()),
        include_obfuscation: t.Optional(t.Boolean({ description: 'Accepted; Parley adds no obfuscation padding' })),
      },
      { additionalProperties: false },
    ),
  ),
  max_tokens: Opt(t.Integer({ minimum: 1, maximum: 200_000 })),
  max_completion_tokens: Opt(
    t.Integer({
      minimum: 1,
      maximum: 200_000,
      description: 'Wins over max_tokens when both are given; sent to OpenAI-compatible providers as max_completion_tokens',
    }),
  ),
  temperature: Opt(
    t.Number({ minimum: 0, maximum: 2, description: 'Not sent to anthropic, whose API (version 2026-10-21) refuses sampling parameters' }),
  ),
  top_p: Opt(
    t.Number({
      minimum: 0,
      maximum: 1,
      description: 'Sent to OpenAI-compatible providers (openai, ollama); not to anthropic, whose API refuses sampling parameters',
    }),
  ),
  n: Opt(
    t.Integer({
      minimum: 1,
      maximum: 128,
      description:
        'Choices: each is a reply of its own (admitted, limited and billed as one call), so at most 8 (400 naming n above); a streamed completion with n > 1 is not replayed by Idempotency-Key',
    }),
  ),
  stop: Opt(
    t.Union([t.String({ maxLength: 1000 }), t.Array(t.String({ maxLength: 1000 }), { maxItems: 4 })], {
      description:
        'Up to 4 sequences that end the reply. Sent to OpenAI-compatible providers, and to anthropic as stop_sequences (leaving out whitespace-only ones, which its API refuses)',
    }),
  ),
  presence_penalty: Penalty('Sent to OpenAI-compatible providers (openai, ollama); anthropic has none'),
  frequency_penalty: Penalty('Sent to OpenAI-compatible providers (openai, ollama); anthropic has none'),
  seed: Opt(
    t.Integer({
      minimum: Number.MIN_SAFE_INTEGER,
      maximum: Number.MAX_SAFE_INTEGER,
      description: 'Sent to OpenAI-compatible providers (openai, ollama); anthropic has none',
    }),
  ),
  response_format: Opt(ResponseFormat),
  tools: Opt(
    t.Array(Tool, {
      maxItems: 128,
      description: 'Function tools, sent to every provider but echo (which ignores them); calls come back as tool_calls',
    }),
  ),
  tool_choice: Opt(ToolChoice),
  parallel_tool_calls: Opt(
    t.Boolean({ description: 'false: at most one tool call (Anthropic: disable_parallel_tool_use); sent on only with tools' }),
  ),
  logprobs: Opt(
    t.Boolean({
      description:
        'Sent to the openai provider, whose log probabilities come back in choices[].logprobs; refused (400 naming logprobs) for providers that return none (anthropic, ollama, echo)',
    }),
  ),
  top_logprobs: Opt(t.Integer({ minimum: 0, maximum: 20, description: 'With logprobs: how many alternatives at each position' })),
  logit_bias: Opt(
    t.Record(t.String({ pattern: '^[0-9]{1,10}$' }), t.Number({ minimum: -100, maximum: 100 }), {
      maxProperties: 1000,
      additionalProperties: false,
      description: 'Accepted and ignored: token ids are tokenizer-specific and a reply may fall back to another provider',
    }),
  ),
  user: Opt(
    t.String({ maxLength: 256, description: "Your end-user's id; sent to OpenAI-compatible providers, to anthropic as metadata.user_id" }),
  ),
  safety_identifier: Opt(t.String({ maxLength: 256, description: 'Accepted and ignored' })),
  prompt_cache_key: Opt(t.String({ maxLength: 256, description: 'Accepted and ignored' })),
  metadata: Opt(
    // A record's key schema is only a pattern to TypeBox (maxLength is ignored), and keys matching
    // no pattern pass unless additional properties are refused.
    t.Record(t.String({ pattern: '^[\\s\\S]{0,64}$' }), t.String({ maxLength: 512 }), {
      maxProperties: 16,
      additionalProperties: false,
      description: 'Accepted and ignored',
    }),
  ),
  store: Opt(t.Boolean({ description: 'Accepted and ignored: Parley stores no completion for distillation or evals' })),
  service_tier: Opt(
    t.Union([t.Literal('auto'), t.Literal('default'), t.Literal('flex'), t.Literal('scale'), t.Literal('priority'), t.Literal('fast')], {
      description: 'Accepted and ignored',
    }),
  ),
  reasoning_effort: Opt(
    t.Union(
      [
        t.Literal('none'),
        t.Literal('minimal'),
        t.Literal('low'),
        t.Literal('medium'),
        t.Literal('high'),
        t.Literal('xhigh'),
        t.Literal('max'),
      ],
      { description: 'Sent to OpenAI-compatible providers; to anthropic as output_config.effort (minimal as low, none left out)' },
    ),
  ),
  verbosity: Opt(t.Union([t.Literal('low'), t.Literal('medium'), t.Literal('high')], { description: 'Accepted and ignored' })),
  modalities: Opt(
    t.Array(t.Union([t.Literal('text'), t.Literal('audio')]), {
      maxItems: 2,
      description: 'Parley answers in text: ["text"] is taken, asking for audio is refused (400 naming modalities)',
    }),
  ),
  audio: Opt(FreeObject('Audio output: refused (400 naming audio); Parley answers in text')),
  prediction: Opt(
    t.Object(
      { type: t.Literal('content'), content: TextContent },
      { additionalProperties: false, description: 'Accepted and ignored (a latency hint)' },
    ),
  ),
  web_search_options: Opt(FreeObject('Refused (400 naming web_search_options): Parley searches nothing')),
  functions: Opt(t.Array(FreeObject('Deprecated'), { maxItems: 128, description: 'Deprecated: refused (400); send tools' })),
  function_call: Opt(
    t.Union([t.String({ maxLength: 64 }), FreeObject('Deprecated')], { description: 'Deprecated: refused (400); send tool_choice' }),
  ),
});
export type CompletionBody = typeof CompletionBody.static;
export type CompletionMessage = typeof CompletionMessage.static;

export const OpenAiModelList = t.Object({
  object: t.Literal('list'),
  data: t.Array(t.Object({ id: t.String(), object: t.Literal('model'), created: t.Integer(), owned_by: t.String() })),
});

const ResponseToolCall = t.Object({
  id: t.String(),
  type: t.Literal('function'),
  function: t.Object({ name: t.String(), arguments: t.String({ description: 'JSON text as the model wrote it' }) }),
});

export const Completion = t.Object({
  id: t.String(),
  object: t.Literal('chat.completion'),
  created: t.Integer(),
  model: t.String(),
  choices: t.Array(
    t.Object({
      index: t.Integer(),
      message: t.Object({
        role: t.Literal('assistant'),
        content: t.Union([t.String(), t.Null()], { description: 'null when the model only called tools' }),
        refusal: t.Null(),
        tool_calls: t.Optional(t.Array(ResponseToolCall)),
        reasoning_content: t.Optional(
          t.String({ description: "The model's thinking, where the provider streams it (as DeepSeek and vLLM return it)" }),
        ),
      }),
      logprobs: t.Union(
        [
          t.Object({
            content: t.Array(
              t.Object({
                token: t.String(),
                logprob: t.Number(),
                bytes: t.Union([t.Array(t.Integer()), t.Null()]),
                top_logprobs: t.Array(
                  t.Object({ token: t.String(), logprob: t.Number(), bytes: t.Union([t.Array(t.Integer()), t.Null()]) }),
                ),
              }),
            ),
            refusal: t.Null(),
          }),
          t.Null(),
        ],
        { description: 'With logprobs: true (the openai provider); else null' },
      ),
      finish_reason: t.String({ description: 'stop, length, tool_calls, content_filter' }),
    }),
  ),
  usage: t.Object({ prompt_tokens: t.Integer(), completion_tokens: t.Integer(), total_tokens: t.Integer() }),
});

/** OpenAI's error shape, which every error of the /v1 routes takes. */
export const OpenAiError = t.Object({
  error: t.Object({
    message: t.String(),
    type: t.String({ description: 'invalid_request_error, requests, insufficient_quota, server_error' }),
    param: t.Union([t.String(), t.Null()], { description: 'The request field at fault, as OpenAI names it (`messages[1].content[0]`)' }),
    code: t.Union([t.String(), t.Null()], {
      description: 'invalid_api_key, model_not_found, rate_limit_exceeded, insufficient_quota, upstream_error, …',
    }),
  }),
});
