import type { UserCaller } from '../../http/auth.ts';
import { AppError, conflict, notFound } from '../../http/errors.ts';
import { badCursor, decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import type { Infra } from '../../infra/index.ts';
import { contentText } from '../../infra/llm/content.ts';
import type { ContentPart, ProviderName } from '../../infra/llm/types.ts';
import type { FilesService } from '../files/service.ts';
import type { UserEvents } from '../realtime/service.ts';
import type { RepliesService, ReplySlot, ResolvedModel, StartedGeneration } from '../replies/service.ts';
import { type CachedRows, createChatCaches, firstPageRows } from './caches.ts';
import { buildHistory, titleFrom } from './history.ts';
import type { ChatView, MessageView, SentMessages, Stats } from './model.ts';
import {
  type ChatCursor,
  type ChatRow,
  type ChatsRepository,
  createChatsRepository,
  type MessageRow,
  type TreeNode,
} from './repository.ts';
import { createChatSearch, decodeSearchCursor, encodeSearchCursor } from './search.ts';
import { reselect, siblingInfo, withoutReplies } from './tree.ts';
import { chatViewFor, toChatView, toMessageView, toPublicChatView } from './views.ts';

/** A reply just started: its stream, and the messages stored for it. */
/**
 * A reply just started: its stream, the messages stored for it, and how to show its message
 * (the only reply of a new question needs no look at the tree for its versions).
 */
export type StartedReply = StartedGeneration & {
  /** What of the attachments the model does not see (cut to fit, or not sent). */
  notes: string[];
  userMessage: MessageView | null;
  assistantMessage: MessageView;
  viewOfReply: (row: MessageRow) => Promise<MessageView>;
};

export type GenerationOptions = { provider?: ProviderName; model?: string; temperature?: number; maxTokens?: number };
/** Options of a reply once admitted: its place among the caller's concurrent replies. */
type AdmittedOptions = GenerationOptions & { slot?: ReplySlot | null };

const asNode = (row: MessageRow): TreeNode => ({
  id: row.id,
  parentId: row.parentId,
  role: row.role,
  selected: row.selected,
  active: row.active,
});

/** Applies `changes` (re-selections, in order) to `nodes`: the flags each node ends with, for the nodes that changed. */
function merged(...changes: TreeNode[][]): TreeNode[] {
  const byId = new Map<string, TreeNode>();
  for (const change of changes) for (const node of change) byId.set(node.id, node);
  return [...byId.values()];
}

const applied = (nodes: TreeNode[], changes: TreeNode[]): TreeNode[] => {
  const byId = new Map(changes.map((node) => [node.id, node]));
  return nodes.map((node) => byId.get(node.id) ?? node);
};

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
  const search = createChatSearch(infra.db);
  const { config } = infra;
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

  /**
   * One change to a chat's tree, as a unit of work: the chat row is locked first (Postgres: the
   * update holds it; SQLite runs one writer at a time), so two changes to one chat never decide
   * from the same stale tree.
   */
  const changeTree = <T>(chatId: string, work: (repo: ChatsRepository, nodes: TreeNode[]) => Promise<T>): Promise<T> =>
    infra.db.transaction(async (tx) => {
      const repo = chats.with(tx);
      await repo.lockChat(chatId);
      return work({ ...repo, with: chats.with }, await repo.tree(chatId));
    });

  /**
   * Stores a new version of a question under `parentId` as the selected one of its group (the
   * other versions step aside with their branches); announces it and returns it with its view.
   */
  const askAgain = async (userId: string, chatId: string, parentId: string | null, content: string, attachments: string[]) => {
    const row = await changeTree(chatId, async (repo, nodes) => {
      const inserted = await repo.insertMessage({
        id: Bun.randomUUIDv7(),
        chatId,
        role: 'user',
        content,
        attachments,
        parentId,
      });
      await repo.setFlags(reselect([...nodes, asNode(inserted)], inserted.id));
      return inserted;
    });
    const [view] = await Promise.all([viewOf(row), caches.messagesChanged(userId)]);
    void events.publish(userId, { type: 'message.created', chatId, message: view });
    return { row, view };
  };

  /** Attachments get at most this share of the context budget; the turns keep the rest. */
  const attachmentBudget = () => Math.floor(config.llm.contextTokenBudget / 2);

  /** The prompt content of the files carried by the user turns of `rows` (none: nothing read). */
  const attachmentsOf = async (userId: string, rows: MessageRow[]) => {
    const ids = rows.flatMap((row) => (row.role === 'user' ? row.attachments : []));
    if (ids.length === 0) return { parts: new Map<string, ContentPart[]>(), notes: [], tokens: 0 };
    return files.promptParts(userId, ids, attachmentBudget());
  };

  /**
   * Before a turn with `attachments` is counted or stored: each must be the caller's file (404
   * otherwise), and an image needs a model that takes images (422).
   */
  const checkAttachments = async (userId: string, model: ResolvedModel, attachments: readonly string[] | undefined) => {
    if (!attachments?.length) return;
    const prompt = await files.promptParts(userId, attachments, attachmentBudget());
    replies.checkImages(model, [{ role: 'user', content: [...prompt.parts.values()].flat() }]);
  };

  /** Starts the assistant's reply to `question` with the active path up to it as history; the call is already admitted. */
  const reply = async (
    caller: UserCaller,
    chat: ChatRow,
    question: MessageRow,
    model: ResolvedModel,
    options: AdmittedOptions,
    userMessage: MessageView | null,
    versions: 'only' | 'among-others',
  ): Promise<StartedReply> => {
    const userId = caller.user.id;
    // The first reply of a question just asked is its only version: no tree read per send or per event.
    const viewOfReply = versions === 'only' ? async (row: MessageRow) => toMessageView(row) : viewOf;
    const publishMessage = async (type: 'message.created' | 'message.updated', row: MessageRow) => {
      const message = await viewOfReply(row).catch(() => toMessageView(row));
      await events.publish(userId, { type, chatId: row.chatId, message });
    };
    const rows = await chats.listPath(chat.id, { upTo: question.sortKey });
    const attached = await attachmentsOf(userId, rows);
    const history = buildHistory(rows, config.llm.contextTokenBudget - attached.tokens, (row) =>
      row.attachments.flatMap((id) => attached.parts.get(id) ?? []),
    );
    // Starting the reply and bumping the chat do not depend on each other.
    const [started, updated] = await Promise.all([
      replies.start({
        userId,
        apiKeyId: caller.apiKeyId,
        chatId: chat.id,
        userMessageId: question.id,
        ...model,
        system: chat.systemPrompt ?? undefined,
        history,
        maxTokens: options.maxTokens ?? config.maxTokens,
        temperature: options.temperature ?? config.temperature,
        slot: options.slot,
        notes: attached.notes,
        onCreated: async (message) => {
          await caches.messagesChanged(userId);
          void publishMessage('message.created', message);
        },
        onStored: async (message) => {
          await caches.messagesChanged(userId);
          void publishMessage('message.updated', message);
        },
      }),
      chats.touchChat(chat.id, chat.title ? null : titleFrom(contentText(history[history.length - 1]?.content ?? '') || 'New chat')),
    ]);
    // Bumped to the top of the list; a featured chat shows its title and updatedAt to everyone.
    if (updated) await caches.chatsChanged(userId, { featured: updated.featured });
    if (updated) void events.publish(userId, { type: 'chat.updated', chatId: chat.id, chat: toChatView(updated) });
    return { ...started, userMessage, assistantMessage: await viewOfReply(started.message!), viewOfReply, notes: attached.notes };
  };

  /** Stores the user's message and starts the reply, the call already admitted (see `send`). */
  const sendAdmitted = async (
    caller: UserCaller,
    chat: ChatRow,
    model: ResolvedModel,
    input: GenerationOptions & { content: string; attachments?: string[] },
    slot: ReplySlot | null,
  ): Promise<StartedReply> => {
    const chatId = chat.id;
    // One unit of work per chat (its row locked): a question sent while another is being
    // stored goes under it, so quick sends make turns one after another, never rival branches.
    // Prepared queries only; the whole tree is read only when another version was selected.
    const { row, parentId, versions } = await infra.db.transaction(async (tx) => {
      const repo = chats.with(tx);
      await repo.lockChat(chatId);
      const parentId = await repo.lastQuestion(chatId);
      const row = await repo.insertMessage({
        id: Bun.randomUUIDv7(),
        chatId,
        role: 'user',
        content: input.content,
        attachments: input.attachments ?? [],
        parentId,
      });
      const versions = await repo.questionVersions(chatId, parentId);
      if (versions.some((version) => version.selected && version.id !== row.id)) {
        await repo.setFlags(reselect(await repo.tree(chatId), row.id));
      }
      return { row, parentId, versions };
    });
    const view = toMessageView(
      row,
      siblingInfo(versions.map((version) => ({ ...version, parentId, role: 'user', active: true }))).get(row.id),
    );
    void events.publish(caller.user.id, { type: 'message.created', chatId, message: view });
    return reply(caller, chat, row, model, { ...input, slot }, view, 'only');
  };

  return {
    ownChat,

    async create(
      userId: string,
      input: { title?: string; provider?: ProviderName; model?: string; systemPrompt?: string; category?: string },
    ): Promise<ChatView> {
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
      patch: Partial<Pick<ChatRow, 'title' | 'provider' | 'model' | 'systemPrompt' | 'category' | 'pinned' | 'archived'>>,
    ): Promise<ChatView> {
      const chat = await ownChat(userId, chatId);
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

    /** Stores the user's message first, then starts the reply. */
    async send(
      caller: UserCaller,
      ip: string,
      chatId: string,
      input: GenerationOptions & { content: string; attachments?: string[] },
    ): Promise<StartedReply> {
      const chat = await ownChat(caller.user.id, chatId);
      const model = await resolveModel(input, chat);
      await checkAttachments(caller.user.id, model, input.attachments);
      // Counted before anything is stored: a refused call leaves no unanswered message behind.
      return replies.admitReply(caller, ip, model, (slot) => sendAdmitted(caller, chat, model, input, slot));
    },

    /**
     * Edits a question: a new version of it (a sibling, same parent) becomes the active branch and
     * gets its own reply; the old version keeps its branch, reachable with `select`.
     */
    async edit(caller: UserCaller, ip: string, chatId: string, messageId: string, input: GenerationOptions & { content: string }) {
      const chat = await ownChat(caller.user.id, chatId);
      const original = await chats.findMessage(chatId, messageId);
      if (!original) throw notFound('Message');
      if (original.role !== 'user') throw conflict('Only a user message can be edited; regenerate a reply instead');
      const model = await resolveModel(input, chat);
      await checkAttachments(caller.user.id, model, original.attachments);
      return replies.admitReply(caller, ip, model, async (slot) => {
        const { row, view } = await askAgain(caller.user.id, chatId, original.parentId, input.content, original.attachments);
        return reply(caller, chat, row, model, { ...input, slot }, view, 'only');
      });
    },

    /** Makes the branch through `messageId` the active one (it and its ancestors become the selected versions); the chat as it now reads. */
    async select(userId: string, chatId: string, messageId: string) {
      const chat = await ownChat(userId, chatId);
      if (!(await chats.findMessage(chatId, messageId))) throw notFound('Message');
      await changeTree(chatId, (repo, nodes) => repo.setFlags(reselect(nodes, messageId)));
      await caches.messagesChanged(userId);
      void events.publish(userId, { type: 'chat.updated', chatId, chat: toChatView(chat) });
      return this.get(userId, chatId);
    },

    /** The reply as SSE (its stream), or with `stream: false` the stored messages once it is done (502 if it failed). */
    async respond(started: StartedReply, stream: boolean | undefined): Promise<Response | (typeof SentMessages)['static']> {
      if (stream !== false) return replies.sse(started.streamId);
      const result = await replies.result(started);
      return {
        userMessage: started.userMessage,
        assistantMessage: result.message ? await started.viewOfReply(result.message) : started.assistantMessage,
        ...(started.notes.length ? { notes: started.notes } : {}),
      };
    },

    /** A new reply for the turn of `messageId` (the user's message, or the reply to replace). */
    async regenerate(caller: UserCaller, ip: string, chatId: string, messageId: string, options: GenerationOptions) {
      const chat = await ownChat(caller.user.id, chatId);
      const message = await chats.findMessage(chatId, messageId);
      if (!message) throw notFound('Message');
      // A reply whose producer is gone (its instance died) is settled first, not a conflict for ever.
      if (message.status === 'streaming' && !(await replies.settleIfOrphaned(message.id)))
        throw conflict('This reply is still being generated; cancel it first');
      const question = message.role === 'user' ? message : message.parentId ? await chats.findMessage(chatId, message.parentId) : undefined;
      if (!question) throw new AppError('conflict', 'There is no user message to answer before this one');
      const model = await resolveModel(options, chat);
      await checkAttachments(caller.user.id, model, question.attachments);
      return replies.admitReply(caller, ip, model, async (slot) => {
        // The new reply is a sibling of the question's replies: they step aside, and the question's branch becomes the active one.
        await changeTree(chatId, async (repo, nodes) => {
          const onBranch = reselect(nodes, question.id);
          await repo.setFlags(merged(onBranch, withoutReplies(applied(nodes, onBranch), question.id)));
        });
        await caches.messagesChanged(caller.user.id);
        return reply(caller, chat, { ...question, active: true }, model, { ...options, slot }, null, 'among-others');
      });
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

    categories(userId: string) {
      return caches.categories.get(userId, async () => {
        const rows = await chats.categories(userId);
        return { data: rows.map((row) => ({ category: row.category!, count: Number(row.count) })) };
      });
    },

    /** Counts over the caller's active paths, from the cache (dropped by every write they count). */
    stats(userId: string): Promise<Stats> {
      return caches.stats.get(userId, async () => {
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
      });
    },

    async featured(query: { limit?: number; cursor?: string }): Promise<Page<ChatView>> {
      const limit = query.limit ?? 20;
      const load = async () =>
        toPage(await chats.listFeatured(limit + 1, decodeCursor(query.cursor, isString)), limit, (row) => row.id, toPublicChatView);
      return query.cursor === undefined ? caches.featured.get(String(limit), load) : load();
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
}

export type ChatsService = ReturnType<typeof createChatsService>;
