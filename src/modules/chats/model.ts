import { t } from 'elysia';
import { pageQuery } from '../../http/pagination.ts';
import { MessageRole, MessageStatus, ProviderInput } from '../../http/vocabulary.ts';

export { MessageStatus };

const ModelId = t.String({ minLength: 1, maxLength: 200 });
const Nullable = <T extends import('elysia').TSchema>(schema: T) => t.Union([schema, t.Null()]);
const Time = t.String({ format: 'date-time' });

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
};

export const SendMessageBody = t.Object(
  {
    content: t.String({ minLength: 1, maxLength: 100_000 }),
    attachments: t.Optional(t.Array(t.String({ maxLength: 64 }), { maxItems: 20 })),
    ...GenerationOptions,
  },
  { additionalProperties: false },
);

export const RegenerateBody = t.Object(GenerationOptions, { additionalProperties: false });

/** An edited question: its new text (a new version beside the old one) and how to answer it. */
export const EditMessageBody = t.Object(
  { content: SendMessageBody.properties.content, ...GenerationOptions },
  { additionalProperties: false },
);

export const SentMessages = t.Object({
  userMessage: Nullable(MessageView),
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
