import type { UserCaller } from '../../http/auth.ts';
import { AppError, conflict, invalid, notFound } from '../../http/errors.ts';
import type { Infra } from '../../infra/index.ts';
import type { ContentPart, ProviderName, ToolChoice, ToolDefinition, ToolResult } from '../../infra/llm/types.ts';
import type { FilesService } from '../files/service.ts';
import type { UserEvents } from '../realtime/service.ts';
import type { RepliesService, ReplySlot, ResolvedModel, StartedGeneration } from '../replies/service.ts';
import type { ChatCaches } from './caches.ts';
import { buildHistory, titleFrom } from './history.ts';
import type { ChatWithMessages, MessageView, SentMessages } from './model.ts';
import type { ChatRow, ChatsRepository, MessageRow, TreeNode } from './repository.ts';
import { createToolMessagesRepository } from './tool-repository.ts';
import { answeredCalls, toolMessageText, toolsOfTurn, turnOf } from './tools.ts';
import { applied, merged, reselect, siblingInfo, withoutReplies } from './tree.ts';
import { toChatView, toMessageView } from './views.ts';

/**
 * A reply just started: its stream, the messages stored for it, and how to show its message
 * (the only reply of a new question needs no look at the tree for its versions).
 */
export type StartedReply = StartedGeneration & {
  /** What of the attachments the model does not see (cut to fit, or not sent). */
  notes: string[];
  userMessage: MessageView | null;
  /** The tool results sent with the call (POST …/messages `toolResults`), stored as one `tool` message. */
  toolMessage?: MessageView;
  assistantMessage: MessageView;
  viewOfReply: (row: MessageRow) => Promise<MessageView>;
};

export type GenerationOptions = {
  provider?: ProviderName;
  model?: string;
  temperature?: number;
  maxTokens?: number;
  /** This turn's tools instead of the chat's (see toolsOfTurn). */
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
};
/** What a client sends: its question, the results of the last reply's tool calls, or both (results first). */
type SendInput = GenerationOptions & { content?: string; attachments?: string[]; toolResults?: ToolResult[] };
/** Options of a reply once admitted: its place among the caller's concurrent replies. */
type AdmittedOptions = GenerationOptions & { slot?: ReplySlot | null };

const asNode = (row: MessageRow): TreeNode => ({
  id: row.id,
  parentId: row.parentId,
  role: row.role,
  selected: row.selected,
  active: row.active,
});

/**
 * The turns of a conversation: sending, editing, regenerating (each admitted against the
 * caller's limits, attachments checked first), choosing a branch, and following or cancelling a
 * reply. Part of the chats service (service.ts), which hands it the pieces both share.
 */
export function createChatTurns(
  infra: Infra,
  deps: {
    replies: RepliesService;
    events: UserEvents;
    files: FilesService;
    chats: ChatsRepository;
    caches: ChatCaches;
    ownChat: (userId: string, chatId: string) => Promise<ChatRow>;
    viewOf: (row: MessageRow) => Promise<MessageView>;
    /** The chat as its owner reads it (after a branch is chosen). */
    read: (userId: string, chatId: string) => Promise<(typeof ChatWithMessages)['static']>;
  },
) {
  const { replies, events, files, chats, caches, ownChat, viewOf } = deps;
  const { config } = infra;
  const resolveModel = replies.resolveModel;
  const toolMessages = createToolMessagesRepository(infra.db);

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
        // A reply to tool results stays in the turn of the question that led to them.
        ...(question.role === 'tool' ? { turnId: turnOf(question) } : {}),
        ...model,
        ...toolsOfTurn(chat, options),
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
      chats.touchChat(chat.id, chat.title ? null : titleFrom(question.content || 'New chat')),
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
    input: SendInput,
    slot: ReplySlot | null,
  ): Promise<StartedReply> => {
    const chatId = chat.id;
    const { content } = input;
    // One unit of work per chat (its row locked): a question sent while another is being
    // stored goes under it, so quick sends make turns one after another, never rival branches.
    // Prepared queries only; the whole tree is read only when another version was selected.
    const { toolRow, asked } = await infra.db.transaction(async (tx) => {
      const repo = chats.with(tx);
      await repo.lockChat(chatId);
      // Tool results go under the reply whose calls they answer (checked again under the lock).
      let toolRow: MessageRow | undefined;
      if (input.toolResults) {
        const last = await toolMessages.with(tx).lastOnPath(chatId);
        const results = answeredCalls(last, input.toolResults);
        const text = toolMessageText(results);
        toolRow = await toolMessages
          .with(tx)
          .insert({ id: Bun.randomUUIDv7(), caller: last!, turnId: turnOf(last!), content: text, toolResults: results });
      }
      if (content === undefined) return { toolRow, asked: undefined };
      const parentId = await repo.lastQuestion(chatId);
      const row = await repo.insertMessage({
        id: Bun.randomUUIDv7(),
        chatId,
        role: 'user',
        content,
        attachments: [...new Set(input.attachments ?? [])],
        parentId,
      });
      const versions = await repo.questionVersions(chatId, parentId);
      if (versions.some((version) => version.selected && version.id !== row.id)) {
        await repo.setFlags(reselect(await repo.tree(chatId), row.id));
      }
      return { toolRow, asked: { row, parentId, versions } };
    });
    const toolView = toolRow && toMessageView(toolRow);
    if (toolView) void events.publish(caller.user.id, { type: 'message.created', chatId, message: toolView });
    if (!asked) {
      // Only results: the model answers them.
      const started = await reply(caller, chat, toolRow!, model, { ...input, slot }, null, 'only');
      return { ...started, toolMessage: toolView };
    }
    const { row, parentId, versions } = asked;
    const view = toMessageView(
      row,
      siblingInfo(versions.map((version) => ({ ...version, parentId, role: 'user', active: true }))).get(row.id),
    );
    void events.publish(caller.user.id, { type: 'message.created', chatId, message: view });
    const started = await reply(caller, chat, row, model, { ...input, slot }, view, 'only');
    return toolView ? { ...started, toolMessage: toolView } : started;
  };

  return {
    /**
     * Stores the user's message (and first the tool results it sends, as one `tool` message) then
     * starts the reply. 422 without content or results, for attachments without content, and for
     * results that do not answer the last reply's calls exactly (see answeredCalls).
     */
    async send(caller: UserCaller, ip: string, chatId: string, input: SendInput): Promise<StartedReply> {
      if (input.content === undefined && !input.toolResults)
        throw invalid('body.content', 'is required unless toolResults are sent', 'Send content, toolResults, or both');
      if (input.content === undefined && input.attachments?.length)
        throw invalid('body.attachments', 'go with a message: send content too');
      const chat = await ownChat(caller.user.id, chatId);
      toolsOfTurn(chat, input);
      if (input.toolResults) answeredCalls(await toolMessages.lastOnPath(chatId), input.toolResults);
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
      toolsOfTurn(chat, input);
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
      return deps.read(userId, chatId);
    },

    /** The reply as SSE (its stream), or with `stream: false` the stored messages once it is done (502 if it failed). */
    async respond(started: StartedReply, stream: boolean | undefined): Promise<Response | (typeof SentMessages)['static']> {
      if (stream !== false) return replies.sse(started.streamId);
      const result = await replies.result(started);
      return {
        userMessage: started.userMessage,
        ...(started.toolMessage ? { toolMessage: started.toolMessage } : {}),
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
      // What the reply answers: a question, or tool results (regenerating either means its reply).
      const answers = message.role === 'user' || message.role === 'tool';
      const question = answers ? message : message.parentId ? await chats.findMessage(chatId, message.parentId) : undefined;
      if (!question) throw new AppError('conflict', 'There is no user message to answer before this one');
      toolsOfTurn(chat, options);
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
  };
}
