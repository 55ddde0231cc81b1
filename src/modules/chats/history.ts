import { estimateContentTokens, estimateTokens } from '../../infra/llm/shared.ts';
import type { ChatMessage, ContentPart } from '../../infra/llm/types.ts';
import { graphemeFloor, graphemes } from '../../text/graphemes.ts';
import type { MessageRow } from './repository.ts';

/**
 * The turns sent upstream, oldest first: finished messages of the path `rows` (in path order),
 * within the token budget (estimated tokens). The current turn (from its user message on: the
 * question, or the question, the calls and their results a reply to tool results answers) always
 * goes; older turns are kept newest first while they fit. An assistant message's tool calls go
 * with the `tool` message that answers them (one tool result turn per call, as every wire format
 * wants) and never apart: calls left unanswered (a question was asked instead) are left out, and
 * so is a message with neither text nor answered calls. `partsOf` adds a user turn's attachments
 * (text and images) after its text.
 */
export function buildHistory(rows: MessageRow[], budgetTokens: number, partsOf?: (row: MessageRow) => ContentPart[]): ChatMessage[] {
  const units = turnUnits(rows, partsOf);
  // Everything from the last user turn on is the question being answered.
  let start = units.findLastIndex((unit) => unit[0]!.role === 'user');
  if (start < 0) start = Math.max(units.length - 1, 0);
  const kept = units.slice(start);
  let used = kept.reduce((sum, unit) => sum + costOf(unit), 0);
  for (let i = start - 1; i >= 0; i--) {
    const unit = units[i]!;
    const cost = costOf(unit);
    if (used + cost > budgetTokens) break;
    kept.unshift(unit);
    used += cost;
  }
  // Providers expect the conversation to open with the user.
  while (kept.length > 1 && kept[0]![0]!.role !== 'user') kept.shift();
  return kept.flat();
}

/** Estimated tokens of a unit: its text, and its calls' names and arguments. */
const costOf = (unit: ChatMessage[]): number =>
  unit.reduce(
    (sum, turn) =>
      sum +
      estimateContentTokens(turn.content) +
      (turn.role === 'assistant' ? (turn.toolCalls ?? []).reduce((n, call) => n + estimateTokens(call.name + call.arguments), 0) : 0),
    0,
  );

/** The path as units that go upstream whole: a user turn, an assistant turn, or an assistant's calls with their results. */
function turnUnits(rows: MessageRow[], partsOf?: (row: MessageRow) => ContentPart[]): ChatMessage[][] {
  const units: ChatMessage[][] = [];
  for (const [index, row] of rows.entries()) {
    if (row.status === 'error') continue;
    if (row.role === 'user') {
      if (!row.content) continue;
      const parts = partsOf?.(row) ?? [];
      units.push([{ role: 'user', content: parts.length ? [{ type: 'text', text: row.content }, ...parts] : row.content }]);
    } else if (row.role === 'assistant') {
      const answers = rows[index + 1];
      const answered = row.toolCalls?.length && answers?.role === 'tool' && answers.parentId === row.id && answers.toolResults?.length;
      if (answered) {
        const results = answers.toolResults!.map((result): ChatMessage => ({ role: 'tool', ...result }));
        units.push([{ role: 'assistant', content: row.content, toolCalls: row.toolCalls! }, ...results]);
      } else if (row.content) units.push([{ role: 'assistant', content: row.content }]);
    }
    // A `tool` message went with the calls it answers (above); system rows are never stored.
  }
  return units;
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
