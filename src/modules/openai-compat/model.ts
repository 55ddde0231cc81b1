import { t } from 'elysia';

const Part = t.Object({ type: t.String(), text: t.Optional(t.String()) });

export const CompletionBody = t.Object({
  model: t.String({
    minLength: 1,
    maxLength: 200,
    description: '`provider/model` (as GET /v1/models lists them) or a model of the default provider',
  }),
  messages: t.Array(
    t.Object({
      role: t.Union([t.Literal('system'), t.Literal('developer'), t.Literal('user'), t.Literal('assistant')]),
      content: t.Union([t.String({ maxLength: 100_000 }), t.Array(Part, { maxItems: 50 })]),
    }),
    { minItems: 1, maxItems: 200 },
  ),
  stream: t.Optional(t.Boolean()),
  stream_options: t.Optional(t.Object({ include_usage: t.Optional(t.Boolean()) })),
  max_tokens: t.Optional(t.Integer({ minimum: 1, maximum: 200_000 })),
  max_completion_tokens: t.Optional(t.Integer({ minimum: 1, maximum: 200_000 })),
  temperature: t.Optional(t.Number({ minimum: 0, maximum: 2 })),
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
      message: t.Object({ role: t.Literal('assistant'), content: t.String() }),
      finish_reason: t.String(),
    }),
  ),
  usage: t.Object({ prompt_tokens: t.Integer(), completion_tokens: t.Integer(), total_tokens: t.Integer() }),
});
