import { estimateTokens } from '../../infra/llm/shared.ts';
import type { ChatMessage } from '../../infra/llm/types.ts';
import type { MessageRow } from './repository.ts';

/** The turns sent upstream: finished text only, newest kept first, within the token budget. */
export function buildHistory(rows: MessageRow[], budgetTokens: number): ChatMessage[] {
  const turns = rows.filter(
    (row): row is MessageRow & { role: 'user' | 'assistant' } =>
      (row.role === 'user' || row.role === 'assistant') && row.content.length > 0 && row.status !== 'error',
  );
  const kept: ChatMessage[] = [];
  let used = 0;
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    const cost = estimateTokens(turn.content);
    // The newest turn (the user's question) always goes, whatever its size.
    if (kept.length > 0 && used + cost > budgetTokens) break;
    kept.unshift({ role: turn.role, content: turn.content });
    used += cost;
  }
  // Providers expect the conversation to open with the user.
  while (kept.length > 1 && kept[0]!.role !== 'user') kept.shift();
  return kept;
}

/** A title from the first exchange: the user's first words, cut at a word boundary. */
export function titleFrom(text: string, maxLength = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= maxLength) return flat;
  const cut = flat.slice(0, maxLength);
  const lastSpace = cut.lastIndexOf(' ');
  return `${(lastSpace > maxLength / 2 ? cut.slice(0, lastSpace) : cut).replace(/[\s,.;:!?-]+$/, '')}…`;
}
