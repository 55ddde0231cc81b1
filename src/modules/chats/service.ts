import type { UserCaller } from '../../http/auth.ts';
import { AppError, conflict, notFound } from '../../http/errors.ts';
import { badCursor, decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { Infra } from '../../infra/index.ts';
import type { ProviderName } from '../../infra/llm/types.ts';
import type { UserEvents } from '../realtime/service.ts';
import type { RepliesService, ResolvedModel, StartedGeneration } from '../replies/service.ts';
import { buildHistory, titleFrom } from './history.ts';
import type { ChatView, MessageView, SentMessages, Stats } from './model.ts';
import { type ChatCursor, type ChatRow, type ChatsRepository, createChatsRepository } from './repository.ts';
import { createChatSearch, decodeSearchCursor, encodeSearchCursor } from './search.ts';
import { toChatView, toMessageView } from './views.ts';

/** A reply just started: its stream, and the messages stored for it. */
export type StartedReply = StartedGeneration & { userMessage: MessageView | null; assistantMessage: MessageView };

export type GenerationOptions = { provider?: ProviderName; model?: string; temperature?: number; maxTokens?: number };

const isChatCursor = (value: unknown): value is ChatCursor =>
  Array.isArray(value) &&
  value.length === 3 &&
  typeof value[0] === 'boolean' &&
  typeof value[1] === 'number' &&
  typeof value[2] === 'string';

/** Chats, their messages, and starting, regenerating and cancelling replies. */
export function createChatsService(infra: Infra, deps: { replies: RepliesService; events: UserEvents }) {
  const { replies, events } = deps;
  const chats = createChatsRepository(infra.db);
  const search = createChatSearch(infra.db);
  const { config } = infra;
  const resolveModel = replies.resolveModel;

  /** Another user's chat is a 404, exactly like one that does not exist. */
  const ownChat = async (userId: string, chatId: string): Promise<ChatRow> => {
    const chat = await chats.findChat(chatId);
    if (!chat || chat.userId !== userId) throw notFound('Chat');
    return chat;
  };

  /** Starts the assistant's reply to the chat's messages up to `userMessageId` (the user's turn); the call is already admitted. */
  const reply = async (
    caller: UserCaller,
    chat: ChatRow,
    userMessageId: string,
    model: ResolvedModel,
    options: GenerationOptions,
    userMessage: MessageView | null,
  ): Promise<StartedReply> => {
    const userId = caller.user.id;
    const history = buildHistory(await chats.listMessages(chat.id, { upToId: userMessageId }), config.llm.contextTokenBudget);
    // Starting the reply and bumping the chat do not depend on each other.
    const [started, updated] = await Promise.all([
      replies.start({
        userId,
        chatId: chat.id,
        userMessageId,
        ...model,
        system: chat.systemPrompt ?? undefined,
        history,
        maxTokens: options.maxTokens ?? config.maxTokens,
        temperature: options.temperature ?? config.temperature,
        onCreated: (message) => void events.publish(userId, { type: 'message.created', chatId: chat.id, message: toMessageView(message) }),
        onStored: (message) => void events.publish(userId, { type: 'message.updated', chatId: chat.id, message: toMessageView(message) }),
      }),
      chats.touchChat(chat.id, chat.title ? null : titleFrom(history[history.length - 1]?.content ?? 'New chat')),
    ]);
    if (updated) void events.publish(userId, { type: 'chat.updated', chatId: chat.id, chat: toChatView(updated) });
    return { ...started, userMessage, assistantMessage: toMessageView(started.message!) };
  };

  return {
    ownChat,

    async create(
      userId: string,
      input: { title?: string; provider?: ProviderName; model?: string; systemPrompt?: string; category?: string },
    ): Promise<ChatView> {
      if (input.provider || input.model) await resolveModel(input);
      const row = await chats.insertChat({ id: Bun.randomUUIDv7(), userId, ...input });
      return toChatView(row);
    },

    async list(
      userId: string,
      query: { limit?: number; cursor?: string; q?: string; category?: string; archived?: boolean },
    ): Promise<Page<ChatView>> {
      const limit = query.limit ?? 20;
      const rows = await chats.listChats(userId, {
        limit: limit + 1,
        after: decodeCursor(query.cursor, isChatCursor),
        titleContains: query.q,
        category: query.category,
        archived: query.archived ?? false,
      });
      return toPage(rows, limit, (row): ChatCursor => [row.pinned, row.updatedAt.getTime(), row.id], toChatView);
    },

    /** The owner's chat, or a featured one for anyone (featured chats are public, read-only). */
    async get(userId: string | null, chatId: string) {
      const chat = await chats.findChat(chatId);
      if (!chat || (chat.userId !== userId && !chat.featured)) throw notFound('Chat');
      const messages = await chats.listMessages(chat.id);
      return { ...toChatView(chat), messages: messages.map(toMessageView) };
    },

    async update(
      userId: string,
      chatId: string,
      patch: Partial<Pick<ChatRow, 'title' | 'provider' | 'model' | 'systemPrompt' | 'category' | 'pinned' | 'archived'>>,
    ): Promise<ChatView> {
      const chat = await ownChat(userId, chatId);
      // A new provider without a model drops the old provider's model rather than keep a pair that cannot answer.
      if (patch.provider && patch.provider !== chat.provider && patch.model === undefined) patch = { ...patch, model: null };
      if (patch.provider || patch.model)
        await resolveModel({ provider: patch.provider ?? chat.provider, model: patch.model ?? (patch.provider ? null : chat.model) });
      const view = toChatView((await chats.updateChat(chatId, patch as Parameters<ChatsRepository['updateChat']>[1]))!);
      void events.publish(userId, { type: 'chat.updated', chatId, chat: view });
      return view;
    },

    async remove(userId: string, chatId: string): Promise<void> {
      await ownChat(userId, chatId);
      await chats.deleteChat(chatId);
      void events.publish(userId, { type: 'chat.deleted', chatId });
    },

    async listMessages(userId: string, chatId: string, query: { limit?: number; cursor?: string }): Promise<Page<MessageView>> {
      await ownChat(userId, chatId);
      const limit = query.limit ?? 20;
      const rows = await chats.listMessages(chatId, { limit: limit + 1, afterId: decodeCursor(query.cursor, isString) });
      return toPage(rows, limit, (row) => row.id, toMessageView);
    },

    /** Stores the user's message first, then starts the reply. */
    async send(
      caller: UserCaller,
      ip: string,
      chatId: string,
      input: GenerationOptions & { content: string; attachments?: string[] },
    ): Promise<StartedReply> {
      const chat = await ownChat(caller.user.id, chatId);
      const model = await resolveModel(input, chat);
      // Counted before anything is stored: a refused call leaves no unanswered message behind.
      await replies.admit(caller, ip);
      const userMessage = await chats.insertMessage({
        id: Bun.randomUUIDv7(),
        chatId,
        role: 'user',
        content: input.content,
        attachments: input.attachments ?? [],
      });
      void events.publish(caller.user.id, { type: 'message.created', chatId, message: toMessageView(userMessage) });
      return reply(caller, chat, userMessage.id, model, input, toMessageView(userMessage));
    },

    /** The reply as SSE (its stream), or with `stream: false` the stored messages once it is done (502 if it failed). */
    async respond(started: StartedReply, stream: boolean | undefined): Promise<Response | (typeof SentMessages)['static']> {
      if (stream !== false) return replies.sse(started.streamId);
      const result = await replies.result(started);
      return {
        userMessage: started.userMessage,
        assistantMessage: result.message ? toMessageView(result.message) : started.assistantMessage,
      };
    },

    /** A new reply for the turn of `messageId` (the user's message, or the reply to replace). */
    async regenerate(caller: UserCaller, ip: string, chatId: string, messageId: string, options: GenerationOptions) {
      const chat = await ownChat(caller.user.id, chatId);
      const message = await chats.findMessage(chatId, messageId);
      if (!message) throw notFound('Message');
      if (message.status === 'streaming') throw conflict('This reply is still being generated; cancel it first');
      const turn =
        message.role === 'user'
          ? message
          : (await chats.listMessages(chatId, { upToId: message.id })).filter((row) => row.role === 'user').at(-1);
      if (!turn) throw new AppError('conflict', 'There is no user message to answer before this one');
      const model = await resolveModel(options, chat);
      await replies.admit(caller, ip);
      return reply(caller, chat, turn.id, model, options, null);
    },

    /** Cancel by message id alone (websocket frames carry no chat id); still owner-only. */
    async cancelMessage(userId: string, messageId: string): Promise<void> {
      const message = await chats.findMessageById(messageId);
      if (!message) throw notFound('Message');
      return this.cancel(userId, message.chatId, messageId);
    },

    async cancel(userId: string, chatId: string, messageId: string): Promise<void> {
      await ownChat(userId, chatId);
      const message = await chats.findMessage(chatId, messageId);
      if (!message) throw notFound('Message');
      if (message.status !== 'streaming') throw conflict(`This message is not being generated (status ${message.status})`);
      await replies.cancel(messageId);
    },

    /** Full text over the caller's titles and messages, best matches first. */
    async search(userId: string, query: { q: string; limit?: number; cursor?: string }) {
      const limit = query.limit ?? 20;
      const offset = query.cursor === undefined ? 0 : decodeSearchCursor(query.cursor);
      if (offset === undefined) throw badCursor();
      const hits = await search.search(userId, query.q, { limit: limit + 1, offset });
      const pageHits = hits.slice(0, limit);
      const rows = await Promise.all(pageHits.map((hit) => chats.findChat(hit.chatId)));
      return {
        data: pageHits.flatMap((hit, i) => (rows[i] ? [{ chat: toChatView(rows[i]!), matches: hit.matches }] : [])),
        nextCursor: hits.length > limit ? encodeSearchCursor(offset + limit) : null,
      };
    },

    async categories(userId: string) {
      const rows = await chats.categories(userId);
      return { data: rows.map((row) => ({ category: row.category!, count: Number(row.count) })) };
    },

    async stats(userId: string): Promise<Stats> {
      const stats = await chats.stats(userId);
      const byModel = stats.byModel.map((row) => ({
        provider: row.provider ?? 'unknown',
        model: row.model ?? 'unknown',
        messages: Number(row.messages),
        inputTokens: Number(row.inputTokens ?? 0),
        outputTokens: Number(row.outputTokens ?? 0),
      }));
      return {
        chats: Number(stats.chats),
        messages: Number(stats.messages),
        tokens: {
          input: byModel.reduce((sum, row) => sum + row.inputTokens, 0),
          output: byModel.reduce((sum, row) => sum + row.outputTokens, 0),
        },
        byModel,
      };
    },

    async featured(query: { limit?: number; cursor?: string }): Promise<Page<ChatView>> {
      const limit = query.limit ?? 20;
      const rows = await chats.listFeatured(limit + 1, decodeCursor(query.cursor, isString));
      return toPage(rows, limit, (row) => row.id, toChatView);
    },

    async setFeatured(chatId: string, featured: boolean): Promise<ChatView> {
      const row = await chats.findChat(chatId);
      if (!row) throw notFound('Chat');
      // Featuring is an admin's act on someone else's chat: it must not bump their list order.
      return toChatView((await chats.updateChat(chatId, { featured, updatedAt: row.updatedAt }))!);
    },
  };
}

export type ChatsService = ReturnType<typeof createChatsService>;
