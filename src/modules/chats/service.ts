import { notFound } from '../../http/errors.ts';
import { badCursor, decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { Infra } from '../../infra/index.ts';
import type { ProviderName, ToolChoice, ToolDefinition } from '../../infra/llm/types.ts';
import type { FilesService } from '../files/service.ts';
import type { UserEvents } from '../realtime/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { createChatAggregates } from './aggregates.ts';
import { type CachedRows, createChatCaches, firstPageRows } from './caches.ts';
import type { ChatView, MessageView, Stats } from './model.ts';
import { type ChatCursor, type ChatRow, type ChatsRepository, createChatsRepository, type MessageRow } from './repository.ts';
import { createChatSearch, decodeSearchCursor, encodeSearchCursor } from './search.ts';
import { checkTools } from './tools.ts';
import { applied, reselect, siblingInfo } from './tree.ts';
import { createChatTurns } from './turns.ts';
import { chatViewFor, toChatView, toMessageView, toPublicChatView } from './views.ts';

export type { GenerationOptions, StartedReply } from './turns.ts';

const isChatCursor = (value: unknown): value is ChatCursor =>
  Array.isArray(value) &&
  value.length === 3 &&
  typeof value[0] === 'boolean' &&
  typeof value[1] === 'number' &&
  typeof value[2] === 'string';

/** Chats, their messages, and starting, regenerating and cancelling replies. */
export function createChatsService(infra: Infra, deps: { replies: RepliesService; events: UserEvents; files: FilesService }) {
  const { replies, events, files } = deps;
  const chats = createChatsRepository(infra.db);
  const aggregates = createChatAggregates(infra.db);
  const search = createChatSearch(infra.db);
  const resolveModel = replies.resolveModel;
  // Derived reads that repeat (lists' first pages, categories, stats, featured), dropped on every
  // instance by the writes below, each of which says what it changed.
  const caches = createChatCaches(infra);

  /** Another user's chat is a 404, exactly like one that does not exist. */
  const ownChat = async (userId: string, chatId: string): Promise<ChatRow> => {
    const chat = await chats.findChat(chatId);
    if (!chat || chat.userId !== userId) throw notFound('Chat');
    return chat;
  };

  /** Views of `rows` (messages of one chat) with their sibling counts, from the chat's tree. */
  const viewsOf = async (chatId: string, rows: MessageRow[]): Promise<MessageView[]> => {
    const withFiles = rows.filter((row) => row.attachments.length > 0).map((row) => row.id);
    const [tree, attached] = await Promise.all([chats.tree(chatId), chats.attachedFiles(withFiles)]);
    const info = siblingInfo(tree);
    const filesOf = Map.groupBy(attached, (file) => file.messageId);
    return rows.map((row) => {
      const view = toMessageView(row, info.get(row.id));
      const carried = filesOf.get(row.id);
      return carried ? { ...view, files: carried.map(({ messageId: _, ...file }) => ({ ...file, size: Number(file.size) })) } : view;
    });
  };
  const viewOf = async (row: MessageRow): Promise<MessageView> => (await viewsOf(row.chatId, [row]))[0]!;
  const service = {
    ownChat,

    async create(
      userId: string,
      input: {
        title?: string;
        provider?: ProviderName;
        model?: string;
        systemPrompt?: string;
        category?: string;
        tools?: ToolDefinition[];
        toolChoice?: ToolChoice;
      },
    ): Promise<ChatView> {
      checkTools(input.tools, input.toolChoice);
      if (input.provider || input.model) await resolveModel(input);
      const row = await chats.insertChat({ id: Bun.randomUUIDv7(), userId, ...input });
      await caches.chatsChanged(userId, { counts: true });
      return toChatView(row);
    },

    async list(
      userId: string,
      query: { limit?: number; cursor?: string; q?: string; category?: string; archived?: boolean },
    ): Promise<Page<ChatView>> {
      const limit = query.limit ?? 20;
      const archived = query.archived ?? false;
      const cursorOf = (row: ChatRow): ChatCursor => [row.pinned, row.updatedAt.getTime(), row.id];
      // The unfiltered first page (the list a client opens with) comes from the cache.
      if (query.cursor === undefined && query.q === undefined && query.category === undefined && limit <= firstPageRows) {
        const cached = await caches.listRows(userId, archived, async (): Promise<CachedRows<ChatCursor>> => {
          const rows = await chats.listChats(userId, { limit: firstPageRows + 1, archived });
          return { rows: rows.map((row) => ({ view: toChatView(row), cursor: cursorOf(row) })) };
        });
        return toPage(
          cached.rows.slice(0, limit + 1),
          limit,
          (row) => row.cursor,
          (row) => row.view,
        );
      }
      const rows = await chats.listChats(userId, {
        limit: limit + 1,
        after: decodeCursor(query.cursor, isChatCursor),
        titleContains: query.q,
        category: query.category,
        archived,
      });
      return toPage(rows, limit, cursorOf, toChatView);
    },

    /** The owner's chat, or a featured one for anyone (featured chats are public, read-only). */
    async get(userId: string | null, chatId: string) {
      const chat = await chats.findChat(chatId);
      if (!chat || (chat.userId !== userId && !chat.featured)) throw notFound('Chat');
      return { ...chatViewFor(chat, userId), messages: await viewsOf(chat.id, await chats.listPath(chat.id)) };
    },

    async update(
      userId: string,
      chatId: string,
      patch: Partial<
        Pick<ChatRow, 'title' | 'provider' | 'model' | 'systemPrompt' | 'category' | 'pinned' | 'archived' | 'tools' | 'toolChoice'>
      >,
    ): Promise<ChatView> {
      const chat = await ownChat(userId, chatId);
      // The choice is checked against the tools the chat will have once patched.
      if (patch.tools !== undefined || patch.toolChoice !== undefined)
        checkTools(
          patch.tools === undefined ? chat.tools : patch.tools,
          patch.toolChoice === undefined ? chat.toolChoice : patch.toolChoice,
        );
      // A new provider without a model drops the old provider's model rather than keep a pair that cannot answer.
      if (patch.provider && patch.provider !== chat.provider && patch.model === undefined) patch = { ...patch, model: null };
      if (patch.provider || patch.model)
        await resolveModel({ provider: patch.provider ?? chat.provider, model: patch.model ?? (patch.provider ? null : chat.model) });
      const view = toChatView((await chats.updateChat(chatId, patch as Parameters<ChatsRepository['updateChat']>[1]))!);
      await caches.chatsChanged(userId, { featured: chat.featured, counts: patch.category !== undefined });
      void events.publish(userId, { type: 'chat.updated', chatId, chat: view });
      return view;
    },

    /** Deletes the chat; its replies still generating (on any instance) are cancelled first, so nothing keeps running or billing. */
    async remove(userId: string, chatId: string): Promise<void> {
      const chat = await ownChat(userId, chatId);
      await Promise.all((await chats.streaming(chatId)).map((message) => replies.cancel(message.id)));
      await chats.deleteChat(chatId);
      await caches.chatsChanged(userId, { featured: chat.featured, counts: true });
      void events.publish(userId, { type: 'chat.deleted', chatId });
    },

    /** A page of the active path, in turn order; the cursor is the last message's sort key. */
    async listMessages(userId: string, chatId: string, query: { limit?: number; cursor?: string }): Promise<Page<MessageView>> {
      await ownChat(userId, chatId);
      const limit = query.limit ?? 20;
      const [rows, nodes] = await Promise.all([
        chats.listPath(chatId, { limit: limit + 1, after: decodeCursor(query.cursor, isString) }),
        chats.tree(chatId),
      ]);
      const info = siblingInfo(nodes);
      return toPage(
        rows,
        limit,
        (row) => row.sortKey,
        (row) => toMessageView(row, info.get(row.id)),
      );
    },

    /**
     * The owner's chat and the messages of one path through it, in turn order: the active path, or
     * with `throughId` the path through that message (root → it, then its selected descendants),
     * as `select` would make it, without changing anything. 404 for another user's chat or a
     * message not in it. What a transcript freezes.
     */
    async path(userId: string, chatId: string, throughId?: string): Promise<{ chat: ChatView; messages: MessageView[] }> {
      const chat = await ownChat(userId, chatId);
      if (throughId === undefined)
        return { chat: toChatView(chat), messages: (await chats.listPath(chatId)).map((row) => toMessageView(row)) };
      const nodes = await chats.tree(chatId);
      if (!nodes.some((node) => node.id === throughId)) throw notFound('Message');
      const onPath = new Set(
        applied(nodes, reselect(nodes, throughId))
          .filter((node) => node.active)
          .map((node) => node.id),
      );
      const rows = (await chats.allMessages(chatId)).filter((row) => onPath.has(row.id));
      return { chat: toChatView(chat), messages: rows.map((row) => toMessageView(row)) };
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

    categories(userId: string) {
      return caches.categories.get(userId, async () => {
        const rows = await aggregates.categories(userId);
        return { data: rows.map((row) => ({ category: row.category!, count: Number(row.count) })) };
      });
    },

    /** Counts over the caller's active paths, from the cache (dropped by every write they count). */
    stats(userId: string): Promise<Stats> {
      return caches.stats.get(userId, async () => {
        const stats = await aggregates.stats(userId);
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
      });
    },

    async featured(query: { limit?: number; cursor?: string }): Promise<Page<ChatView>> {
      const limit = query.limit ?? 20;
      const load = async () =>
        toPage(await chats.listFeatured(limit + 1, decodeCursor(query.cursor, isString)), limit, (row) => row.id, toPublicChatView);
      return query.cursor === undefined ? caches.featuredPage(limit, load) : load();
    },

    /** Features a chat or stops featuring it; `wasFeatured` says how it stood before (for the audit log). */
    async setFeatured(chatId: string, featured: boolean): Promise<{ chat: ChatView; wasFeatured: boolean }> {
      const row = await chats.findChat(chatId);
      if (!row) throw notFound('Chat');
      // Featuring is an admin's act on someone else's chat: it must not bump their list order.
      const view = toChatView((await chats.updateChat(chatId, { featured, updatedAt: row.updatedAt }))!);
      // The owner's list shows the flag too.
      await caches.chatsChanged(row.userId, { featured: true });
      return { chat: view, wasFeatured: row.featured };
    },
  };
  const turns = createChatTurns(infra, {
    replies,
    events,
    files,
    chats,
    caches,
    ownChat,
    viewOf,
    read: (userId, chatId) => service.get(userId, chatId),
  });
  return { ...service, ...turns };
}

export type ChatsService = ReturnType<typeof createChatsService>;
