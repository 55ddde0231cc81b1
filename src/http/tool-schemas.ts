import { t } from 'elysia';

// The native API's function tools, tool calls and tool results (camelCase, flat), shared by the
// stateless chat (POST /chat) and chats (POST /chats, PATCH /chats/:id, POST /chats/:id/messages):
// one set of shapes and limits. The OpenAI-compatible routes keep OpenAI's own shapes
// (src/modules/openai-compat/model.ts).

/** The most characters a tool call's arguments or a tool's answer may hold (a message's limit). */
const maxToolText = 100_000;

/** A call's id as the model gave it (OpenAI `call_…`, Anthropic `toolu_…`). */
export const ToolCallId = t.String({ minLength: 1, maxLength: 256 });

/** A call the model made: what an assistant message's `toolCalls` hold. */
export const ToolCallSchema = t.Object(
  {
    id: ToolCallId,
    name: t.String({ minLength: 1, maxLength: 64 }),
    arguments: t.String({ maxLength: maxToolText, description: 'JSON text, as the model wrote it' }),
  },
  { additionalProperties: false },
);

/** What a tool answered for the call `toolCallId`. */
export const ToolResultContent = t.String({ maxLength: maxToolText, description: 'What the tool answered' });

/** A function the model may call (OpenAI: 1–64 of `[a-zA-Z0-9_-]` for its name). */
export const ToolDefinitionSchema = t.Object(
  {
    name: t.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_-]{1,64}$' }),
    description: t.Optional(t.String({ maxLength: 10_000 })),
    parameters: t.Optional(t.Object({}, { additionalProperties: true, description: 'A JSON Schema object for the arguments' })),
  },
  { additionalProperties: false },
);

/** Up to 128 tools (OpenAI's limit); `description` says what the route does with them. */
export const toolsSchema = (description: string) => t.Array(ToolDefinitionSchema, { maxItems: 128, description });

/** Whether the model must call a tool. */
export const ToolChoiceSchema = t.Union(
  [t.Literal('auto'), t.Literal('none'), t.Literal('required'), t.Object({ name: t.String({ maxLength: 64 }) })],
  { description: 'Whether the model must call a tool (required), may (auto, the default), must not (none), or must call the one named' },
);
