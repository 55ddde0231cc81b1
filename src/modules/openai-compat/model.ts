import { type TSchema, t } from 'elysia';

/** Most characters one message's content may hold, whether a string or text parts (each part is held to it). */
export const maxContentLength = 100_000;

const Part = t.Object({ type: t.String({ minLength: 1, maxLength: 64 }), text: t.Optional(t.String({ maxLength: maxContentLength })) });

/**
 * OpenAI's optional fields take `null` for "the default", as its reference and SDKs allow, so
 * every one of them here is the value's schema or null; a null is then treated as absent.
 */
const Nullable = <T extends TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Opt = <T extends TSchema>(schema: T) => t.Optional(Nullable(schema));

const Penalty = (description: string) => Opt(t.Number({ minimum: -2, maximum: 2, description }));

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
            schema: t.Optional(t.Object({}, { additionalProperties: true, description: 'A JSON Schema' })),
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
      'Sent on to OpenAI-compatible providers (openai, ollama); the others (anthropic, echo) answer in free text whatever is asked',
  },
);

export const CompletionBody = t.Object({
  model: t.String({
    minLength: 1,
    maxLength: 200,
    description: '`provider/model` (as GET /v1/models lists them) or a model of the default provider',
  }),
  messages: t.Array(
    t.Object({
      role: t.Union([t.Literal('system'), t.Literal('developer'), t.Literal('user'), t.Literal('assistant')]),
      content: t.Union([t.String({ maxLength: maxContentLength }), t.Array(Part, { maxItems: 50 })]),
    }),
    { minItems: 1, maxItems: 200 },
  ),
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
  max_completion_tokens: Opt(t.Integer({ minimum: 1, maximum: 200_000, description: 'Wins over max_tokens when both are given' })),
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
      description: 'Parley returns one choice: only 1 is taken, a larger n is refused (422 on body.n)',
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
  logprobs: Opt(t.Boolean({ description: 'Parley returns no log probabilities: true is refused (422 on body.logprobs)' })),
  top_logprobs: Opt(t.Integer({ minimum: 0, maximum: 20, description: 'Accepted and ignored (no log probabilities are returned)' })),
  logit_bias: Opt(
    t.Record(t.String({ pattern: '^[0-9]{1,10}$' }), t.Number({ minimum: -100, maximum: 100 }), {
      maxProperties: 1000,
      additionalProperties: false,
      description: 'Accepted and ignored: token ids are tokenizer-specific and a reply may fall back to another provider',
    }),
  ),
  user: Opt(t.String({ maxLength: 256, description: "Your end-user's id; sent to OpenAI-compatible providers" })),
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
  parallel_tool_calls: Opt(t.Boolean({ description: 'Accepted and ignored (tools are not taken yet)' })),
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
      { description: 'Accepted and ignored: the model thinks as much as it would by default' },
    ),
  ),
  verbosity: Opt(t.Union([t.Literal('low'), t.Literal('medium'), t.Literal('high')], { description: 'Accepted and ignored' })),
  modalities: Opt(
    t.Array(t.Union([t.Literal('text'), t.Literal('audio')]), {
      maxItems: 2,
      description: 'Parley answers in text: ["text"] is taken, asking for audio is refused (422 on body.modalities)',
    }),
  ),
  prediction: Opt(
    t.Object(
      { type: t.Literal('content'), content: t.Union([t.String({ maxLength: maxContentLength }), t.Array(Part, { maxItems: 50 })]) },
      { additionalProperties: false, description: 'Accepted and ignored (a latency hint)' },
    ),
  ),
});
export type CompletionBody = typeof CompletionBody.static;

export const OpenAiModelList = t.Object({
  object: t.Literal('list'),
  data: t.Array(t.Object({ id: t.String(), object: t.Literal('model'), created: t.Integer(), owned_by: t.String() })),
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
        content: t.String(),
        reasoning_content: t.Optional(
          t.String({ description: "The model's thinking, where the provider streams it (as DeepSeek and vLLM return it)" }),
        ),
      }),
      finish_reason: t.String(),
    }),
  ),
  usage: t.Object({ prompt_tokens: t.Integer(), completion_tokens: t.Integer(), total_tokens: t.Integer() }),
});
