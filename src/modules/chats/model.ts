import { t } from 'elysia';
import { pageQuery } from '../../http/pagination.ts';
import {
  ToolCallId,
  ToolCallSchema,
  ToolChoiceSchema,
  ToolDefinitionSchema as ToolDefinitionView,
  ToolResultContent,
  toolsSchema,
} from '../../http/tool-schemas.ts';
import { MessageRole, MessageStatus, ProviderInput } from '../../http/vocabulary.ts';

export { MessageStatus };

const ModelId = t.String({ minLength: 1, maxLength: 200 });
const Nullable = <T extends import('elysia').TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Time = t.String({ format: 'date-time' });

const ToolResult = t.Object(
  { toolCallId: t.String({ ...ToolCallId, description: 'The id of the call it answers' }), content: ToolResultContent },
  { additionalProperties: false },
);

/** A chat's tools: what the model may call in its replies (a message may pass others for its turn). */
const ChatTools = toolsSchema(
  'Functions the chat’s model may call: a call ends the reply with finishReason tool_calls and its toolCalls stored on the message (SSE: `tool_call` events); echo ignores tools',
);

export const MessageView = t.Object({
  id: t.String(),
  chatId: t.String(),
  parentId: Nullable(
    t.String({ description: "The user message of the turn before (a question), or this reply's question; null for the first turn" }),
  ),
  siblingCount: t.Integer({
    minimum: 1,
    description: 'Versions of this message: regenerated replies, or edited questions (itself included)',
  }),
  siblingIndex: t.Integer({ minimum: 0, description: 'Which version this one is, oldest first (0-based)' }),
  siblingIds: t.Array(t.String(), {
    description: 'The ids of every version, oldest first (select one with POST …/messages/:messageId/select)',
  }),
  role: MessageRole,
  content: t.String(),
  reasoning: Nullable(
    t.String({ description: "The model's thinking, where the provider streams it; kept apart from content and never sent back upstream" }),
  ),
  status: MessageStatus,
  provider: Nullable(t.String()),
  model: Nullable(t.String()),
  finishReason: Nullable(t.String()),
  usage: Nullable(t.Object({ inputTokens: t.Integer(), outputTokens: t.Integer() })),
  attachments: t.Array(t.String(), { description: 'Ids of the files sent with this message (POST …/messages `attachments`)' }),
  toolCalls: t.Optional(
    t.Array(ToolCallSchema, {
      description:
        'An assistant message that called tools (finishReason tool_calls): run them and answer with POST …/messages `toolResults`',
    }),
  ),
  toolResults: t.Optional(
    t.Array(ToolResult, {
      description: 'A `tool` message: the results sent for its parent’s toolCalls, in their order (`content` joins them)',
    }),
  ),
  files: t.Optional(
    t.Array(t.Object({ id: t.String(), name: t.String(), contentType: t.String(), size: t.Integer() }), {
      description: 'The attached files, named, when the chat or its messages are read',
    }),
  ),
  createdAt: Time,
  updatedAt: Time,
});
export type MessageView = typeof MessageView.static;

export const ChatView = t.Object({
  id: t.String(),
  title: Nullable(t.String()),
  provider: Nullable(t.String()),
  model: Nullable(t.String()),
  systemPrompt: Nullable(
    t.String({ description: 'Shown to the chat’s owner only: null for anyone else reading a featured chat, and in GET /chats/featured' }),
  ),
  category: Nullable(t.String()),
  pinned: t.Boolean(),
  archived: t.Boolean(),
  featured: t.Boolean(),
  tools: Nullable(
    t.Array(ToolDefinitionView, {
      description: 'The functions the model may call; like the system prompt, shown to the chat’s owner only (null for anyone else)',
    }),
  ),
  toolChoice: Nullable(ToolChoiceSchema),
  createdAt: Time,
  updatedAt: Time,
});
export type ChatView = typeof ChatView.static;

export const ChatWithMessages = t.Composite([ChatView, t.Object({ messages: t.Array(MessageView) })]);

export const CreateChatBody = t.Object(
  {
    title: t.Optional(t.String({ minLength: 1, maxLength: 200 })),
    provider: t.Optional(ProviderInput),
    model: t.Optional(ModelId),
    systemPrompt: t.Optional(t.String({ maxLength: 20_000 })),
    category: t.Optional(t.String({ minLength: 1, maxLength: 50 })),
    tools: t.Optional(ChatTools),
    toolChoice: t.Optional(ToolChoiceSchema),
  },
  { additionalProperties: false },
);

export const UpdateChatBody = t.Object(
  {
    title: t.Optional(Nullable(t.String({ minLength: 1, maxLength: 200 }))),
    provider: t.Optional(Nullable(ProviderInput)),
    model: t.Optional(Nullable(ModelId)),
    systemPrompt: t.Optional(Nullable(t.String({ maxLength: 20_000 }))),
    category: t.Optional(Nullable(t.String({ minLength: 1, maxLength: 50 }))),
    pinned: t.Optional(t.Boolean()),
    archived: t.Optional(t.Boolean()),
    tools: t.Optional(Nullable(ChatTools)),
    toolChoice: t.Optional(Nullable(ToolChoiceSchema)),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ListChatsQuery = pageQuery({
  q: t.Optional(t.String({ minLength: 1, maxLength: 200, description: 'Part of the title' })),
  category: t.Optional(t.String({ minLength: 1, maxLength: 50 })),
  archived: t.Optional(t.Boolean({ description: 'true lists archived chats only; default lists the others' })),
});

const GenerationOptions = {
  provider: t.Optional(ProviderInput),
  model: t.Optional(ModelId),
  temperature: t.Optional(t.Number({ minimum: 0, maximum: 2 })),
  maxTokens: t.Optional(t.Integer({ minimum: 1, maximum: 200_000 })),
  stream: t.Optional(t.Boolean({ default: true, description: 'false answers {userMessage, assistantMessage} as JSON' })),
  tools: t.Optional(
    toolsSchema(
      'The functions the model may call in this reply, instead of the chat’s `tools` (an empty list: none); not stored on the chat',
    ),
  ),
  toolChoice: t.Optional(ToolChoiceSchema),
};

const Content = t.String({ minLength: 1, maxLength: 100_000 });

export const SendMessageBody = t.Object(
  {
    content: t.Optional(
      t.String({ ...Content, description: 'The user’s message; may be left out when `toolResults` are sent (the model answers them)' }),
    ),
    attachments: t.Optional(t.Array(t.String({ maxLength: 64 }), { maxItems: 20 })),
    toolResults: t.Optional(
      t.Array(ToolResult, {
        minItems: 1,
        maxItems: 128,
        description:
          'The results of the tool calls of the last message (an assistant message with toolCalls), one per call: stored as one `tool` message, then the model answers. With `content` too, the user’s message follows them.',
      }),
    ),
    ...GenerationOptions,
  },
  { additionalProperties: false },
);

export const RegenerateBody = t.Object(GenerationOptions, { additionalProperties: false });

/** An edited question: its new text (a new version beside the old one) and how to answer it. */
export const EditMessageBody = t.Object({ content: Content, ...GenerationOptions }, { additionalProperties: false });

export const SentMessages = t.Object({
  userMessage: Nullable(MessageView),
  toolMessage: t.Optional(MessageView),
  assistantMessage: MessageView,
  notes: t.Optional(
    t.Array(t.String(), { description: 'What of the attachments the model did not see: cut to fit the context, or not sent' }),
  ),
});

export const ChatMessageParams = t.Object({ id: t.String({ maxLength: 64 }), messageId: t.String({ maxLength: 64 }) });
export const ChatParams = t.Object({ id: t.String({ maxLength: 64 }) });

export const FeaturedBody = t.Object({ featured: t.Boolean() }, { additionalProperties: false });

export const Stats = t.Object({
  chats: t.Integer(),
  messages: t.Integer(),
  tokens: t.Object({ input: t.Integer(), output: t.Integer() }),
  byModel: t.Array(
    t.Object({ provider: t.String(), model: t.String(), messages: t.Integer(), inputTokens: t.Integer(), outputTokens: t.Integer() }),
  ),
});
export type Stats = typeof Stats.static;

export const Categories = t.Object({ data: t.Array(t.Object({ category: t.String(), count: t.Integer() })) });

export const SearchQuery = pageQuery({
  q: t.String({ minLength: 1, maxLength: 200 }),
});

export const SearchResults = t.Object({
  data: t.Array(
    t.Object({
      chat: ChatView,
      matches: t.Array(t.Object({ messageId: Nullable(t.String()), snippet: t.String() })),
    }),
  ),
  nextCursor: Nullable(t.String()),
});
