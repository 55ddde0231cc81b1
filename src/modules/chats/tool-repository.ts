import { and, desc, eq, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';
import type { ToolResult } from '../../infra/llm/types.ts';
import type { MessageRow } from './repository.ts';

/**
 * The queries of a tool round (see tools.ts): what the results answer, and storing them.
 * Inside a transaction, use `toolMessages.with(tx)`.
 */
export function createToolMessagesRepository(db: Database) {
  const { messages } = db.tables;
  const lastOnPathOf = db.prepare<{ chatId: string }, MessageRow[]>('chats.lastOnPath', (q) =>
    q
      .select()
      .from(messages)
      .where(and(eq(messages.chatId, sql.placeholder('chatId')), eq(messages.active, true)))
      .orderBy(desc(messages.sortKey))
      .limit(1),
  );

  return repository((tx: Tx | undefined) => ({
    /** The last message of the chat's active path (what tool results must answer), if any. */
    async lastOnPath(chatId: string): Promise<MessageRow | undefined> {
      const [row] = await lastOnPathOf({ chatId }, tx);
      return row;
    },

    /**
     * Stores the results of `caller`'s tool calls as one `tool` message under it, on the active
     * path, inside its turn (sort key `<turnId>:<id>`). Rare enough to need no prepared statement.
     */
    async insert(message: {
      id: string;
      caller: MessageRow;
      turnId: string;
      content: string;
      toolResults: ToolResult[];
    }): Promise<MessageRow> {
      const { id, caller, turnId, content, toolResults } = message;
      const [row] = await db.run(
        (q) =>
          q
            .insert(messages)
            .values({ id, chatId: caller.chatId, parentId: caller.id, sortKey: `${turnId}:${id}`, role: 'tool', content, toolResults })
            .returning(),
        tx,
      );
      return row!;
    },
  }));
}

export type ToolMessagesRepository = ReturnType<typeof createToolMessagesRepository>;
