import type { ChatView, MessageView } from './model.ts';
import type { ChatRow, MessageRow } from './repository.ts';
import type { SiblingInfo } from './tree.ts';

export function toChatView(row: ChatRow): ChatView {
  return {
    id: row.id,
    title: row.title,
    provider: row.provider,
    model: row.model,
    systemPrompt: row.systemPrompt,
    category: row.category,
    pinned: row.pinned,
    archived: row.archived,
    featured: row.featured,
    tools: row.tools,
    toolChoice: row.toolChoice,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/**
 * A chat as anyone but its owner sees it (a featured chat is public): without the owner's system
 * prompt and tools, which are theirs (instructions, context, sometimes secrets) even when the chat is shown.
 */
export function toPublicChatView(row: ChatRow): ChatView {
  return { ...toChatView(row), systemPrompt: null, tools: null, toolChoice: null };
}

/** The chat as `viewerId` may see it: whole for its owner, the public view for anyone else (or no one signed in). */
export function chatViewFor(row: ChatRow, viewerId: string | null): ChatView {
  return row.userId === viewerId ? toChatView(row) : toPublicChatView(row);
}

/** A stored message as the API shows it; `siblings` from the chat's tree (see tree.ts), else it is the only version. */
export function toMessageView(
  row: MessageRow,
  siblings: SiblingInfo = { siblingCount: 1, siblingIndex: 0, siblingIds: [row.id] },
): MessageView {
  return {
    id: row.id,
    chatId: row.chatId,
    parentId: row.parentId,
    ...siblings,
    role: row.role,
    content: row.content,
    reasoning: row.reasoning,
    status: row.status,
    provider: row.provider,
    model: row.model,
    finishReason: row.finishReason,
    usage: row.inputTokens === null || row.outputTokens === null ? null : { inputTokens: row.inputTokens, outputTokens: row.outputTokens },
    attachments: row.attachments,
    ...(row.toolCalls?.length ? { toolCalls: row.toolCalls } : {}),
    ...(row.toolResults?.length ? { toolResults: row.toolResults } : {}),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
