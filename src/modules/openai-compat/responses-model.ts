// Schemas of OpenAI's Responses API as Parley takes and answers it
// (platform.openai.com/docs/api-reference/responses): the request, the Response object and the
// deletion. Items and parts Parley cannot honour are taken by the schema and refused by
// responses-request.ts with a 400 naming them (`input[2].content[0]`, `tools[1]`).
import { type TSchema, t } from 'elysia';
import { maxContentLength } from './model.ts';

const Nullable = <T extends TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Opt = <T extends TSchema>(schema: T) => t.Optional(Nullable(schema));
const FreeObject = (description: string) => t.Object({}, { additionalProperties: true, description });
const Text = t.String({ maxLength: maxContentLength });
const Id = (description: string) => t.String({ minLength: 1, maxLength: 256, description });

const InputText = t.Object({ type: t.Literal('input_text'), text: Text });
const OutputText = t.Object({
  type: t.Literal('output_text'),
  text: Text,
  annotations: t.Optional(t.Array(FreeObject('Accepted and ignored'), { maxItems: 100 })),
});
const InputImage = t.Object({
  type: t.Literal('input_image'),
  image_url: Opt(
    t.String({ maxLength: 1_400_000, description: 'An http(s) URL, or a base64 `data:` URL of a PNG, JPEG, GIF or WebP image' }),
  ),
  file_id: Opt(t.String({ maxLength: 256, description: 'Refused (400): Parley has no OpenAI file store; send image_url' })),
  detail: t.Optional(t.String({ maxLength: 16, description: 'Accepted and ignored' })),
});
const Refusal = t.Object({ type: t.Literal('refusal'), refusal: Text }, { description: 'Accepted; not sent upstream' });
const OtherPart = t.Object(
  { type: t.Union([t.Literal('input_file'), t.Literal('input_audio')]) },
  { additionalProperties: true, description: 'Refused (400 naming the part): upload files to /api/v1/files; transcribe audio first' },
);
const ContentPart = t.Union([InputText, OutputText, InputImage, Refusal, OtherPart]);

export const Message = t.Object(
  {
    type: t.Optional(t.Literal('message')),
    role: t.Union([t.Literal('user'), t.Literal('assistant'), t.Literal('system'), t.Literal('developer')]),
    content: t.Union([Text, t.Array(ContentPart, { maxItems: 50 })]),
    id: t.Optional(t.String({ maxLength: 256, description: 'Accepted (an earlier output item’s id); the content is what counts' })),
    status: t.Optional(t.String({ maxLength: 32, description: 'Accepted and ignored' })),
  },
  { description: 'system and developer text joins the instructions; user and assistant messages are turns' },
);
export const FunctionCall = t.Object({
  type: t.Literal('function_call'),
  call_id: Id('Pairs the call with its function_call_output'),
  name: t.String({ minLength: 1, maxLength: 256 }),
  arguments: Text,
  id: t.Optional(t.String({ maxLength: 256 })),
  status: t.Optional(t.String({ maxLength: 32 })),
});
export const FunctionCallOutput = t.Object({
  type: t.Literal('function_call_output'),
  call_id: Id('The call this answers'),
  output: t.Union([Text, t.Array(ContentPart, { maxItems: 50 })], { description: 'Text, or input_text parts (joined)' }),
  id: t.Optional(t.String({ maxLength: 256 })),
  status: t.Optional(t.String({ maxLength: 32 })),
});
export const ItemReference = t.Object(
  { type: t.Literal('item_reference'), id: t.String({ minLength: 1, maxLength: 256 }) },
  { description: 'An output item (msg_…, fc_…) of a response the caller stored: taken as that item' },
);
export const Reasoning = t.Object(
  { type: t.Literal('reasoning') },
  { additionalProperties: true, description: 'Accepted and left out: a model’s earlier thinking is not sent back upstream' },
);

/** One item of `input`, as OpenAI's Responses API takes it. */
export const InputItem = t.Union([Message, FunctionCall, FunctionCallOutput, ItemReference, Reasoning]);

// Any other item passes the schema, so that responses-request.ts checks each item against its own
// type's schema and names what is wrong inside it (`input[2].call_id`), or refuses the type.
const OtherItem = t.Object(
  { type: t.Optional(t.String({ maxLength: 64 })) },
  { additionalProperties: true, description: 'Other item types (built-in tool calls, …): refused (400 naming the item)' },
);

const FunctionTool = t.Object({
  type: t.Literal('function'),
  name: t.String({ maxLength: 64, pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
  description: Opt(t.String({ maxLength: 10_000 })),
  parameters: Opt(FreeObject('A JSON Schema object for the arguments')),
  strict: Opt(t.Boolean()),
});
const BuiltInTool = t.Object(
  { type: t.String({ maxLength: 64 }) },
  { additionalProperties: true, description: 'Built-in tools (web_search, file_search, …): refused (400 naming tools[i])' },
);

const FunctionChoice = t.Object({ type: t.Literal('function'), name: t.String({ maxLength: 64 }) });
const ToolChoice = t.Union(
  [
    t.Literal('none'),
    t.Literal('auto'),
    t.Literal('required'),
    FunctionChoice,
    t.Object({
      type: t.Literal('allowed_tools'),
      mode: t.Union([t.Literal('auto'), t.Literal('required')]),
      tools: t.Array(t.Object({ type: t.String({ maxLength: 64 }), name: t.Optional(t.String({ maxLength: 64 })) }), { maxItems: 128 }),
    }),
    t.Object({ type: t.String({ maxLength: 64 }) }, { additionalProperties: true, description: 'A built-in tool: refused' }),
  ],
  { description: 'Sent on in each provider’s words (Anthropic: auto, any, tool, none)' },
);

export const TextFormat = t.Union([
  t.Object({ type: t.Literal('text') }),
  t.Object({ type: t.Literal('json_object') }),
  t.Object({
    type: t.Literal('json_schema'),
    name: t.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]+$' }),
    schema: FreeObject('A JSON Schema'),
    description: Opt(t.String({ maxLength: 10_000 })),
    strict: Opt(t.Boolean()),
  }),
]);

const Effort = t.Union(
  [t.Literal('none'), t.Literal('minimal'), t.Literal('low'), t.Literal('medium'), t.Literal('high'), t.Literal('xhigh'), t.Literal('max')],
  { description: 'Sent as reasoning_effort to OpenAI-compatible providers; to anthropic as output_config.effort' },
);

export const ResponseBody = t.Object({
  model: t.String({
    minLength: 1,
    maxLength: 200,
    description: '`provider/model` (as GET /v1/models lists them) or a model of the default provider',
  }),
  input: t.Optional(
    t.Union([Text, t.Array(t.Union([Message, FunctionCall, FunctionCallOutput, ItemReference, Reasoning, OtherItem]), { maxItems: 500 })], {
      description: 'A user message, or items (messages, function calls and outputs)',
    }),
  ),
  instructions: Opt(t.String({ maxLength: maxContentLength, description: 'The system prompt; not carried over by previous_response_id' })),
  previous_response_id: Opt(
    t.String({ maxLength: 100, description: 'A stored response of yours: its conversation (input and output) comes before this input' }),
  ),
  store: Opt(
    t.Boolean({ description: 'Default true: the response is kept for GET, DELETE and previous_response_id (RESPONSES_TTL_SECONDS)' }),
  ),
  stream: Opt(t.Boolean()),
  stream_options: Opt(FreeObject('Accepted and ignored')),
  tools: Opt(t.Array(t.Union([FunctionTool, BuiltInTool]), { maxItems: 128, description: 'Function tools only' })),
  tool_choice: Opt(ToolChoice),
  parallel_tool_calls: Opt(t.Boolean({ description: 'false: at most one tool call' })),
  temperature: Opt(t.Number({ minimum: 0, maximum: 2, description: 'Not sent to anthropic, whose API refuses sampling parameters' })),
  top_p: Opt(t.Number({ minimum: 0, maximum: 1, description: 'Sent to OpenAI-compatible providers' })),
  max_output_tokens: Opt(t.Integer({ minimum: 1, maximum: 200_000 })),
  text: Opt(
    t.Object({
      format: t.Optional(TextFormat),
      verbosity: Opt(t.Union([t.Literal('low'), t.Literal('medium'), t.Literal('high')], { description: 'Accepted and ignored' })),
    }),
  ),
  reasoning: Opt(t.Object({ effort: Opt(Effort), summary: Opt(t.String({ maxLength: 32, description: 'Accepted and ignored' })) })),
  metadata: Opt(
    t.Record(t.String({ pattern: '^[\\s\\S]{0,64}$' }), t.String({ maxLength: 512 }), {
      maxProperties: 16,
      additionalProperties: false,
      description: 'Kept with the response and echoed',
    }),
  ),
  user: Opt(t.String({ maxLength: 256, description: "Your end-user's id; sent upstream" })),
  include: Opt(t.Array(t.String({ maxLength: 128 }), { maxItems: 20, description: 'Accepted and ignored' })),
  truncation: Opt(t.Union([t.Literal('auto'), t.Literal('disabled')], { description: 'Accepted and ignored' })),
  service_tier: Opt(t.String({ maxLength: 32, description: 'Accepted and ignored' })),
  background: Opt(t.Boolean({ description: 'Parley answers in the foreground: true is refused (400)' })),
  conversation: Opt(
    t.Union([t.String({ maxLength: 256 }), FreeObject('A conversation')], { description: 'Refused (400): use previous_response_id' }),
  ),
  prompt: Opt(FreeObject('A stored prompt template: refused (400)')),
  max_tool_calls: Opt(t.Integer({ minimum: 1, maximum: 1000, description: 'Accepted and ignored' })),
  top_logprobs: Opt(t.Integer({ minimum: 0, maximum: 20, description: 'Accepted and ignored' })),
  prompt_cache_key: Opt(t.String({ maxLength: 256, description: 'Accepted and ignored' })),
  safety_identifier: Opt(t.String({ maxLength: 256, description: 'Accepted and ignored' })),
});
export type ResponseBody = typeof ResponseBody.static;
export type InputItem = typeof InputItem.static;
export type GivenItem = Extract<ResponseBody['input'], unknown[]>[number];

const OutputMessage = t.Object({
  id: t.String({ description: 'msg_…' }),
  type: t.Literal('message'),
  role: t.Literal('assistant'),
  status: t.String({ description: 'completed, incomplete' }),
  content: t.Array(
    t.Object({ type: t.Literal('output_text'), text: t.String(), annotations: t.Array(t.Unknown()), logprobs: t.Array(t.Unknown()) }),
  ),
});
const OutputFunctionCall = t.Object({
  id: t.String({ description: 'fc_…' }),
  type: t.Literal('function_call'),
  call_id: t.String(),
  name: t.String(),
  arguments: t.String({ description: 'JSON text as the model wrote it' }),
  status: t.String(),
});
const OutputReasoning = t.Object(
  {
    id: t.String({ description: 'rs_…' }),
    type: t.Literal('reasoning'),
    summary: t.Array(t.Object({ type: t.Literal('summary_text'), text: t.String() })),
  },
  { description: 'The model’s thinking, where the provider streams it (never sent back upstream)' },
);
export const OutputItem = t.Union([OutputReasoning, OutputMessage, OutputFunctionCall]);
export type OutputItem = typeof OutputItem.static;

/** OpenAI's Response object, as Parley answers and stores it. */
export const ResponseObject = t.Object(
  {
    id: t.String({ description: 'resp_…' }),
    object: t.Literal('response'),
    created_at: t.Integer({ description: 'Seconds since the epoch' }),
    completed_at: Nullable(t.Integer()),
    status: t.String({ description: 'completed, incomplete (max_output_tokens, content_filter), failed, cancelled' }),
    model: t.String({ description: 'provider/model that answered' }),
    output: t.Array(OutputItem),
    usage: Nullable(
      t.Object({
        input_tokens: t.Integer(),
        input_tokens_details: t.Object({ cached_tokens: t.Integer() }),
        output_tokens: t.Integer(),
        output_tokens_details: t.Object({ reasoning_tokens: t.Integer() }),
        total_tokens: t.Integer(),
      }),
    ),
    error: Nullable(t.Object({ code: t.String(), message: t.String() })),
    incomplete_details: Nullable(t.Object({ reason: t.String() })),
    instructions: Nullable(t.String()),
    previous_response_id: Nullable(t.String()),
    metadata: t.Record(t.String(), t.String()),
    tools: t.Array(t.Unknown()),
    tool_choice: t.Unknown(),
    parallel_tool_calls: t.Boolean(),
    temperature: Nullable(t.Number()),
    top_p: Nullable(t.Number()),
    max_output_tokens: Nullable(t.Integer()),
    text: t.Object({ format: t.Unknown() }),
    reasoning: t.Object({ effort: Nullable(t.String()), summary: Nullable(t.String()) }),
    store: t.Boolean(),
    truncation: t.String(),
    user: Nullable(t.String()),
    background: t.Boolean(),
    service_tier: t.String(),
  },
  { description: 'output_text is not sent: OpenAI’s SDKs compute it from output' },
);
export type ResponseObject = typeof ResponseObject.static;

export const DeletedResponse = t.Object({ id: t.String(), object: t.Literal('response.deleted'), deleted: t.Literal(true) });
