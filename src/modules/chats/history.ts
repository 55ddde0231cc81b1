import { estimateContentTokens } from '../../infra/llm/shared.ts';
import type { ChatMessage, ContentPart, MessageContent } from '../../infra/llm/types.ts';
import { graphemeFloor, graphemes } from '../../text/graphemes.ts';
import type { MessageRow } from './repository.ts';

/**
 * The turns sent upstream: finished text only, newest kept first, within the token budget
 * (estimated tokens). `partsOf` adds a turn's attachments (text and images) after its text.
 */
export function buildHistory(rows: MessageRow[], budgetTokens: number, partsOf?: (row: MessageRow) => ContentPart[]): ChatMessage[] {
  const turns = rows.filter(
    (row): row is MessageRow & { role: 'user' | 'assistant' } =>
      (row.role === 'user' || row.role === 'assistant') && row.content.length > 0 && row.status !== 'error',
  );
  const kept: ChatMessage[] = [];
  let used = 0;
  for (let i = turns.length - 1; i >= 0; i--) {
    const turn = turns[i]!;
    const parts = turn.role === 'user' ? (partsOf?.(turn) ?? []) : [];
    const content: MessageContent = parts.length ? [{ type: 'text', text: turn.content }, ...parts] : turn.content;
    const cost = estimateContentTokens(content);
    // The newest turn (the user's question) always goes, whatever its size.
    if (kept.length > 0 && used + cost > budgetTokens) break;
    kept.unshift({ role: turn.role, content });
    used += cost;
  }
  // Providers expect the conversation to open with the user.
  while (kept.length > 1 && kept[0]!.role !== 'user') kept.shift();
  return kept;
}

/**
 * A title from the first exchange: the user's first words, at most `maxLength` code units then `…`,
 * cut at a word boundary when one is near the end, and always between characters (grapheme
 * clusters, UAX #29: see src/text/graphemes.ts), never inside an emoji or a combining sequence.
 */
export function titleFrom(text: string, maxLength = 60): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  if (flat.length <= maxLength) return flat;
  const segments = graphemes(flat);
  let end = graphemeFloor(flat, maxLength, segments);
  // A space is a cluster of its own unless a combining mark follows it; cut before it (never inside).
  const lastSpace = flat.lastIndexOf(' ', end - 1);
  if (lastSpace > maxLength / 2) end = graphemeFloor(flat, lastSpace, segments);
  // Trailing spaces and punctuation go, one whole cluster at a time.
  while (end > 0) {
    const last = segments.containing(end - 1);
    if (!last || !/^[\s,.;:!?-]+$/.test(last.segment)) break;
    end = last.index;
  }
  return `${flat.slice(0, end)}…`;
}
