import type { ChatView, MessageView } from './model.ts';
import type { ChatRow, MessageRow } from './repository.ts';

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
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toMessageView(row: MessageRow): MessageView {
  return {
    id: row.id,
    chatId: row.chatId,
    role: row.role,
    content: row.content,
    status: row.status,
    provider: row.provider,
    model: row.model,
    finishReason: row.finishReason,
    usage: row.inputTokens === null || row.outputTokens === null ? null : { inputTokens: row.inputTokens, outputTokens: row.outputTokens },
    attachments: row.attachments,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}
