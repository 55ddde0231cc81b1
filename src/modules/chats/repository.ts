import { and, asc, desc, eq, gt, inArray, isNull, lt, lte, or, type SQL, sql } from 'drizzle-orm';
import { containsPattern, likeEscaped } from '../../infra/db/contains.ts';
import type { Database, Tx } from '../../infra/db/index.ts';
import { bound } from '../../infra/db/placeholder.ts';
import { repository } from '../../infra/db/repository.ts';
import type { PreparedQuery } from '../../infra/db/types.ts';

export type ChatRow = Database['tables']['chats']['$inferSelect'];
export type MessageRow = Database['tables']['messages']['$inferSelect'];
export type NewMessage = Database['tables']['messages']['$inferInsert'];
export type ChatCursor = [pinned: boolean, updatedAt: number, id: string];

type ListChatsValues = {
  userId: string;
  archived: boolean;
  limit: number;
  category?: string;
  pattern?: string;
  pinned?: boolean;
  updatedAt?: Date;
  id?: string;
};
type PathValues = { chatId: string; limit?: number; after?: string; upTo?: string };

/** A message's place in its chat's tree, without its text: enough to find paths and siblings. */
export type TreeNode = Pick<MessageRow, 'id' | 'parentId' | 'role' | 'selected' | 'active'>;

/**
 * Data access for chats and their messages. Every query that takes a user id scopes to it.
 * The queries of hot routes are prepared once per process (`db.prepare`); a query whose
 * filters vary is prepared once per combination of filters, so no request builds SQL text.
 * Inside a transaction, use `chats.with(tx)`: the same methods, on the unit of work.
 */
export function createChatsRepository(db: Database) {
  const { chats, messages, messageAttachments, files } = db.tables;

  const chatById = db.prepare<{ id: string }, ChatRow[]>('chats.byId', (q) =>
    q
      .select()
      .from(chats)
      .where(eq(chats.id, sql.placeholder('id')))
      .limit(1),
  );
  const messageInChat = db.prepare<{ id: string; chatId: string }, MessageRow[]>('chats.messageInChat', (q) =>
    q
      .select()
      .from(messages)
      .where(and(eq(messages.id, sql.placeholder('id')), eq(messages.chatId, sql.placeholder('chatId'))))
      .limit(1),
  );
  const messageById = db.prepare<{ id: string }, MessageRow[]>('chats.messageById', (q) =>
    q
      .select()
      .from(messages)
      .where(eq(messages.id, sql.placeholder('id')))
      .limit(1),
  );
  const insertOne = db.prepare<
    Required<
      Pick<NewMessage, 'id' | 'chatId' | 'parentId' | 'sortKey' | 'role' | 'content' | 'status' | 'provider' | 'model' | 'attachments'>
    >,
    MessageRow[]
  >('chats.insertMessage', (q) =>
    q
      .insert(messages)
      .values({
        id: sql.placeholder('id'),
        chatId: sql.placeholder('chatId'),
        parentId: sql.placeholder('parentId'),
        sortKey: sql.placeholder('sortKey'),
        role: sql.placeholder('role'),
        content: sql.placeholder('content'),
        status: sql.placeholder('status'),
        provider: sql.placeholder('provider'),
        model: sql.placeholder('model'),
        attachments: sql.placeholder('attachments'),
      })
      .returning(),
  );
  // A reply bumps its chat to the top of the list, and names it when it has no title yet.
  const touch = db.prepare<{ id: string; at: Date; title: string | null }, ChatRow[]>('chats.touch', (q) =>
    q
      .update(chats)
      .set({ updatedAt: bound(chats.updatedAt, 'at'), title: sql`coalesce(${chats.title}, ${sql.placeholder('title')})` })
      .where(eq(chats.id, sql.placeholder('id')))
      .returning(),
  );

  const listChatsVariants = new Map<string, PreparedQuery<ListChatsValues, ChatRow[]>>();
  const listChatsQuery = (variant: { after: boolean; category: boolean; title: boolean }) => {
    const key = `${+variant.after}${+variant.category}${+variant.title}`;
    let query = listChatsVariants.get(key);
    if (!query) {
      query = db.prepare<ListChatsValues, ChatRow[]>(`chats.list.${key}`, (q) => {
        const conditions: SQL[] = [eq(chats.userId, sql.placeholder('userId')), eq(chats.archived, bound(chats.archived, 'archived'))];
        if (variant.category) conditions.push(eq(chats.category, sql.placeholder('category')));
        if (variant.title) conditions.push(likeEscaped(sql`lower(${chats.title})`, sql.placeholder('pattern')));
        if (variant.after) {
          const pinned = bound(chats.pinned, 'pinned');
          const updatedAt = bound(chats.updatedAt, 'updatedAt');
          conditions.push(
            or(
              lt(chats.pinned, pinned),
              and(eq(chats.pinned, pinned), lt(chats.updatedAt, updatedAt)),
              and(eq(chats.pinned, pinned), eq(chats.updatedAt, updatedAt), lt(chats.id, sql.placeholder('id'))),
            )!,
          );
        }
        return q
          .select()
          .from(chats)
          .where(and(...conditions))
          .orderBy(desc(chats.pinned), desc(chats.updatedAt), desc(chats.id))
          .limit(sql.placeholder('limit'));
      });
      listChatsVariants.set(key, query);
    }
    return query;
  };

  // The active path, in turn order (sort keys: see the schema). Only messages on it are read here.
  const onPath = (extra?: SQL) => and(eq(messages.chatId, sql.placeholder('chatId')), eq(messages.active, true), extra);
  const pathFirst = db.prepare<PathValues, MessageRow[]>('chats.path.first', (q) =>
    q.select().from(messages).where(onPath()).orderBy(asc(messages.sortKey)).limit(sql.placeholder('limit')),
  );
  const pathAfter = db.prepare<PathValues, MessageRow[]>('chats.path.after', (q) =>
    q
      .select()
      .from(messages)
      .where(onPath(gt(messages.sortKey, sql.placeholder('after'))))
      .orderBy(asc(messages.sortKey))
      .limit(sql.placeholder('limit')),
  );
  const pathAll = db.prepare<PathValues, MessageRow[]>('chats.path.all', (q) =>
    q.select().from(messages).where(onPath()).orderBy(asc(messages.sortKey)),
  );
  const pathUpTo = db.prepare<PathValues, MessageRow[]>('chats.path.upTo', (q) =>
    q
      .select()
      .from(messages)
      .where(onPath(lte(messages.sortKey, sql.placeholder('upTo'))))
      .orderBy(asc(messages.sortKey)),
  );
  const lock = db.prepare<{ id: string }, unknown>('chats.lock', (q) =>
    q
      .update(chats)
      .set({ id: sql`${chats.id}` })
      .where(eq(chats.id, sql.placeholder('id'))),
  );
  const flags = db.prepare<Pick<TreeNode, 'id' | 'selected' | 'active'>, unknown>('chats.flags', (q) =>
    q
      .update(messages)
      .set({ selected: bound(messages.selected, 'selected'), active: bound(messages.active, 'active') })
      .where(eq(messages.id, sql.placeholder('id'))),
  );
  const lastQuestionOf = db.prepare<{ chatId: string }, Pick<MessageRow, 'id'>[]>('chats.lastQuestion', (q) =>
    q
      .select({ id: messages.id })
      .from(messages)
      .where(onPath(eq(messages.role, 'user')))
      .orderBy(desc(messages.sortKey))
      .limit(1),
  );
  const questionVersions = (variant: 'root' | 'child') =>
    db.prepare<{ chatId: string; parentId?: string }, Pick<TreeNode, 'id' | 'selected'>[]>(`chats.questionVersions.${variant}`, (q) =>
      q
        .select({ id: messages.id, selected: messages.selected })
        .from(messages)
        .where(
          and(
            eq(messages.chatId, sql.placeholder('chatId')),
            variant === 'root' ? isNull(messages.parentId) : eq(messages.parentId, sql.placeholder('parentId')),
            eq(messages.role, 'user'),
          ),
        ),
    );
  const rootVersions = questionVersions('root');
  const childVersions = questionVersions('child');
  const treeOf = db.prepare<{ chatId: string }, TreeNode[]>('chats.tree', (q) =>
    q
      .select({ id: messages.id, parentId: messages.parentId, role: messages.role, selected: messages.selected, active: messages.active })
      .from(messages)
      .where(eq(messages.chatId, sql.placeholder('chatId')))
      .orderBy(asc(messages.id)),
  );

  return repository((tx: Tx | undefined) => ({
    async insertChat(chat: Database['tables']['chats']['$inferInsert']): Promise<ChatRow> {
      const [row] = await db.run((q) => q.insert(chats).values(chat).returning(), tx);
      return row!;
    },

    async findChat(id: string): Promise<ChatRow | undefined> {
      const [row] = await chatById({ id }, tx);
      return row;
    },

    /** Pinned first, then most recently active; keyset pagination on (pinned, updatedAt, id). */
    async listChats(
      userId: string,
      options: { limit: number; after?: ChatCursor; titleContains?: string; category?: string; archived: boolean },
    ) {
      const query = listChatsQuery({ after: !!options.after, category: !!options.category, title: !!options.titleContains });
      const [pinned, updatedAtMs, id] = options.after ?? [];
      return query(
        {
          userId,
          archived: options.archived,
          limit: options.limit,
          category: options.category,
          pattern: options.titleContains ? containsPattern(options.titleContains.toLowerCase()) : undefined,
          pinned,
          updatedAt: updatedAtMs === undefined ? undefined : new Date(updatedAtMs),
          id,
        },
        tx,
      );
    },

    /** Marks the chat active now (top of the list) and gives it `title` if it has none. */
    async touchChat(id: string, title: string | null): Promise<ChatRow | undefined> {
      const [row] = await touch({ id, at: new Date(), title }, tx);
      return row;
    },

    async updateChat(id: string, patch: Partial<Database['tables']['chats']['$inferInsert']>): Promise<ChatRow | undefined> {
      const [row] = await db.run(
        (q) =>
          q
            .update(chats)
            .set({ updatedAt: new Date(), ...patch })
            .where(eq(chats.id, id))
            .returning(),
        tx,
      );
      return row;
    },

    /** Takes the chat row's lock for the rest of the transaction (a no-op update: Postgres locks the row; SQLite has one writer). */
    async lockChat(id: string): Promise<void> {
      await lock({ id }, tx);
    },

    async deleteChat(id: string): Promise<void> {
      await db.run((q) => q.delete(chats).where(eq(chats.id, id)), tx);
    },

    async listFeatured(limit: number, afterId?: string) {
      const conditions: SQL[] = [eq(chats.featured, true)];
      if (afterId) conditions.push(lt(chats.id, afterId));
      return db.run(
        (q) =>
          q
            .select()
            .from(chats)
            .where(and(...conditions))
            .orderBy(desc(chats.id))
            .limit(limit),
        tx,
      );
    },

    /** Stores a message on the active path (selected, active); `sortKey` defaults to its id (a user message's key). */
    async insertMessage(message: Pick<NewMessage, 'id' | 'chatId' | 'role'> & Partial<NewMessage>): Promise<MessageRow> {
      const [row] = await insertOne(
        {
          content: '',
          status: 'complete',
          provider: null,
          model: null,
          attachments: [],
          parentId: null,
          sortKey: message.id,
          ...message,
        } as Parameters<typeof insertOne>[0],
        tx,
      );
      // The files it carries are recorded apart too: a file in use cannot be deleted.
      const attached = [...new Set(message.attachments ?? [])];
      if (attached.length) {
        await db.run(
          (q) => q.insert(messageAttachments).values(attached.map((fileId, position) => ({ messageId: row!.id, fileId, position }))),
          tx,
        );
      }
      return row!;
    },

    /** The files carried by `messageIds`, in each message's order. */
    async attachedFiles(messageIds: string[]) {
      if (messageIds.length === 0) return [];
      return db.run(
        (q) =>
          q
            .select({
              messageId: messageAttachments.messageId,
              id: files.id,
              name: files.name,
              contentType: files.contentType,
              size: files.size,
            })
            .from(messageAttachments)
            .innerJoin(files, eq(files.id, messageAttachments.fileId))
            .where(inArray(messageAttachments.messageId, messageIds))
            .orderBy(asc(messageAttachments.messageId), asc(messageAttachments.position)),
        tx,
      );
    },

    async findMessage(chatId: string, messageId: string): Promise<MessageRow | undefined> {
      const [row] = await messageInChat({ id: messageId, chatId }, tx);
      return row;
    },

    async findMessageById(messageId: string): Promise<MessageRow | undefined> {
      const [row] = await messageById({ id: messageId }, tx);
      return row;
    },

    /** The active path in turn order: a page (`limit`, after the sort key `after`), everything up to the sort key `upTo`, or all. */
    async listPath(chatId: string, options: { limit?: number; after?: string; upTo?: string } = {}) {
      if (options.upTo !== undefined) return pathUpTo({ chatId, upTo: options.upTo }, tx);
      if (options.limit === undefined) return pathAll({ chatId }, tx);
      return options.after !== undefined
        ? pathAfter({ chatId, limit: options.limit, after: options.after }, tx)
        : pathFirst({ chatId, limit: options.limit }, tx);
    },

    /** Every message of the chat, every branch, in sort-key (turn) order. */
    allMessages(chatId: string): Promise<MessageRow[]> {
      return db.run((q) => q.select().from(messages).where(eq(messages.chatId, chatId)).orderBy(asc(messages.sortKey)), tx);
    },

    /** Every message of the chat as a tree node, in id (creation) order: parents before children. */
    tree(chatId: string): Promise<TreeNode[]> {
      return treeOf({ chatId }, tx);
    },

    /** The newest question on the active path (the parent of the next one asked), if any. */
    async lastQuestion(chatId: string): Promise<string | null> {
      const [row] = await lastQuestionOf({ chatId }, tx);
      return row?.id ?? null;
    },

    /** The versions of the questions under `parentId` (null: the chat's first questions), with which is selected. */
    questionVersions(chatId: string, parentId: string | null): Promise<Pick<TreeNode, 'id' | 'selected'>[]> {
      return parentId === null ? rootVersions({ chatId }, tx) : childVersions({ chatId, parentId }, tx);
    },

    /** Writes new `selected`/`active` flags (the nodes a re-selection changed). */
    async setFlags(nodes: Pick<TreeNode, 'id' | 'selected' | 'active'>[]): Promise<void> {
      for (const node of nodes) await flags({ id: node.id, selected: node.selected, active: node.active }, tx);
    },

    /** Messages of the chat still being generated (on any branch). */
    streaming(chatId: string): Promise<Pick<MessageRow, 'id'>[]> {
      return db.run(
        (q) =>
          q
            .select({ id: messages.id })
            .from(messages)
            .where(and(eq(messages.chatId, chatId), eq(messages.status, 'streaming'))),
        tx,
      );
    },
  }));
}

export type ChatsRepository = ReturnType<typeof createChatsRepository>;
