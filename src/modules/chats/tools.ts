// A chat's tools: which a reply may call, and the checks on the results a client sends back for
// an assistant message's tool calls (stored as one `tool` message, see turns.ts).
import { conflict, invalid } from '../../http/errors.ts';
import type { ToolChoice, ToolDefinition, ToolResult } from '../../infra/llm/types.ts';
import type { MessageRow } from './repository.ts';

/**
 * Throws 422 `validation_error` when two tools share a name (`body.tools`: upstreams refuse it),
 * or a named `toolChoice` names none of `tools` (`body.toolChoice`: the model could not obey it).
 */
export function checkTools(tools: readonly ToolDefinition[] | null | undefined, toolChoice: ToolChoice | null | undefined): void {
  const names = (tools ?? []).map((tool) => tool.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated !== undefined) throw invalid('body.tools', `Two tools are named ${JSON.stringify(repeated)}`);
  if (toolChoice && typeof toolChoice === 'object' && !names.includes(toolChoice.name))
    throw invalid('body.toolChoice', `Names ${JSON.stringify(toolChoice.name)}, which is not one of the tools`);
}

/**
 * The tools of one reply: the turn's own `tools` when it passes some (with its `toolChoice`, else
 * `auto`), otherwise the chat's (with the turn's choice, else the chat's). Nothing when there are
 * none. Throws as checkTools does.
 */
export function toolsOfTurn(
  chat: { tools: ToolDefinition[] | null; toolChoice: ToolChoice | null },
  turn: { tools?: ToolDefinition[]; toolChoice?: ToolChoice },
): { tools?: ToolDefinition[]; toolChoice?: ToolChoice } {
  const tools = turn.tools ?? chat.tools ?? [];
  const toolChoice = turn.toolChoice ?? (turn.tools ? undefined : (chat.toolChoice ?? undefined));
  checkTools(tools, toolChoice);
  if (tools.length === 0) return {};
  return { tools, ...(toolChoice !== undefined ? { toolChoice } : {}) };
}

/**
 * The results for `last` (the last message of the chat's active path), in the order of its calls.
 * It must be an assistant message that called tools and is done (409 `conflict` while it is being
 * generated), and `results` must answer each of its calls exactly once: 422 `validation_error` on
 * `body.toolResults` otherwise (no calls to answer, a duplicate, an unknown id, a call left unanswered).
 */
export function answeredCalls(last: MessageRow | undefined, results: readonly ToolResult[]): ToolResult[] {
  if (last?.status === 'streaming') throw conflict('The last reply is still being generated; wait for its tool calls');
  const calls = last?.role === 'assistant' ? (last.toolCalls ?? []) : [];
  if (calls.length === 0) throw invalid('body.toolResults', 'The last message of the chat called no tools: there is nothing to answer');
  const byId = new Map<string, ToolResult>();
  for (const [index, result] of results.entries()) {
    const field = `body.toolResults.${index}.toolCallId`;
    if (byId.has(result.toolCallId)) throw invalid(field, `Answers the call ${JSON.stringify(result.toolCallId)} twice`);
    if (!calls.some((call) => call.id === result.toolCallId))
      throw invalid(field, `${JSON.stringify(result.toolCallId)} is not a call of the last message (${calls.map((c) => c.id).join(', ')})`);
    byId.set(result.toolCallId, { toolCallId: result.toolCallId, content: result.content });
  }
  const missing = calls.filter((call) => !byId.has(call.id));
  if (missing.length)
    throw invalid(
      'body.toolResults',
      `No result for the call${missing.length > 1 ? 's' : ''} ${missing.map((call) => call.id).join(', ')}`,
    );
  return calls.map((call) => byId.get(call.id)!);
}

/** A `tool` message's text (what search, transcripts and exports show): its results' contents, one after another. */
export const toolMessageText = (results: readonly ToolResult[]): string => results.map((result) => result.content).join('\n\n');

/** The turn (user message id) a message belongs to: the first part of its sort key (see the schema). */
export const turnOf = (row: Pick<MessageRow, 'sortKey' | 'id'>): string => row.sortKey.split(':')[0] || row.id;
