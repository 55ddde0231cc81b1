// A Messages API request as a stateless reply: its turns as the provider layer's (text, images,
// tool calls and tool results), its tools, and its options as sampling options. What Parley
// cannot honour is refused here, naming the field as Anthropic would (`messages.1.content.0`),
// before anything is counted or sent.
import {
  type ChatMessage,
  type ContentPart,
  estimateTokens,
  type Sampling,
  type ToolChoice,
  type ToolDefinition,
} from '../../infra/llm/index.ts';
import { estimateUsage } from '../../infra/llm/shared.ts';
import { modelOf } from '../gateway/service.ts';
import type { StatelessConversation } from '../models/service.ts';
import { badField } from './errors.ts';
import type { AnthropicMessageParam, CountTokensBody, MessagesBody } from './model.ts';

/** `null` from a client means "the default": the same as leaving the field out. */
const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

type Block = Exclude<AnthropicMessageParam['content'], string>[number];
type TextBlock = Extract<Block, { type: 'text' }>;
type ImageBlock = Extract<Block, { type: 'image' }>;

/** An image block as the provider layer's part: base64 bytes, or a URL the provider fetches. */
const imagePart = (block: ImageBlock): ContentPart =>
  block.source.type === 'base64'
    ? { type: 'image', mediaType: block.source.media_type, data: block.source.data }
    : { type: 'image', url: block.source.url };

/** A tool result's content as the text every provider takes: a string, or text blocks joined; images refused. */
function resultText(content: string | (TextBlock | ImageBlock)[] | undefined, where: string): string {
  if (content === undefined || typeof content === 'string') return content ?? '';
  return content
    .map((block, k) => {
      if (block.type !== 'text') throw badField(`${where}.content.${k}`, 'Images in a tool result are not supported: send text');
      return block.text;
    })
    .join('');
}

/** A user turn's blocks: tool results as tool turns (first, as Anthropic wants them), the rest as one user turn. */
function userTurns(blocks: Block[], at: number): ChatMessage[] {
  const results: ChatMessage[] = [];
  const parts: ContentPart[] = [];
  for (const [j, block] of blocks.entries()) {
    const where = `messages.${at}.content.${j}`;
    if (block.type === 'tool_result') {
      const text = resultText(block.content, where);
      results.push({ role: 'tool', toolCallId: block.tool_use_id, content: block.is_error ? `Error: ${text}` : text });
    } else if (block.type === 'text') parts.push({ type: 'text', text: block.text });
    else if (block.type === 'image') parts.push(imagePart(block));
    else if (block.type === 'document')
      throw badField(where, 'Document blocks are not supported: upload the file to /api/v1/files and send its text');
    else throw badField(where, `A ${block.type} block belongs in an assistant turn`);
  }
  if (!parts.length) return results;
  // One text block is plain text, as most clients send it; anything else goes as parts.
  const only = parts.length === 1 ? parts[0] : undefined;
  return [...results, { role: 'user', content: only?.type === 'text' ? only.text : parts }];
}

/** An assistant turn's blocks: text joined, tool_use as tool calls; thinking (never sent upstream) left out. */
function assistantTurn(blocks: Block[], at: number): ChatMessage | undefined {
  let text = '';
  const toolCalls: { id: string; name: string; arguments: string }[] = [];
  for (const [j, block] of blocks.entries()) {
    if (block.type === 'text') text += block.text;
    else if (block.type === 'tool_use') toolCalls.push({ id: block.id, name: block.name, arguments: JSON.stringify(block.input) });
    else if (block.type === 'thinking' || block.type === 'redacted_thinking') continue;
    else throw badField(`messages.${at}.content.${j}`, `A ${block.type} block cannot be in an assistant turn`);
  }
  if (!text && !toolCalls.length) return undefined;
  return { role: 'assistant', content: text, ...(toolCalls.length ? { toolCalls } : {}) };
}

/**
 * The messages as turns for the provider layer, and for each turn the index of the message it
 * came from (so a refusal of turn `i` can name `messages.<from[i]>`). A user turn's tool_result
 * blocks become tool turns, an assistant's tool_use blocks its tool calls.
 */
export function toTurns(messages: AnthropicMessageParam[]): { turns: ChatMessage[]; from: number[] } {
  const turns: ChatMessage[] = [];
  const from: number[] = [];
  for (const [at, message] of messages.entries()) {
    const made =
      typeof message.content === 'string'
        ? [{ role: message.role, content: message.content } as ChatMessage]
        : message.role === 'user'
          ? userTurns(message.content, at)
          : [assistantTurn(message.content, at)].filter((turn): turn is ChatMessage => turn !== undefined);
    for (const turn of made) {
      turns.push(turn);
      from.push(at);
    }
  }
  return { turns, from };
}

/** The system prompt: a string as it is, text blocks joined by a blank line. */
export const systemOf = (system: MessagesBody['system']): string | undefined =>
  system === undefined
    ? undefined
    : typeof system === 'string'
      ? system || undefined
      : system.map((block) => block.text).join('\n\n') || undefined;

/**
 * The request's tools and tool choice for the provider layer; nothing without tools. Anthropic's
 * server tools (a `type` other than `custom`) are refused, as is a choice that needs tools
 * without them or names one that is not given.
 */
export function toolsOf(body: Pick<MessagesBody, 'tools' | 'tool_choice'>): {
  tools?: ToolDefinition[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
} {
  const tools = (given(body.tools) ?? []).map((tool, i): ToolDefinition => {
    const type = given(tool.type);
    if (type !== undefined && type !== 'custom')
      throw badField(`tools.${i}.type`, `Parley runs no server tools (${type}): send custom tools`);
    const strict = given(tool.strict);
    return {
      name: tool.name,
      ...(tool.description !== undefined ? { description: tool.description } : {}),
      ...(tool.input_schema !== undefined ? { parameters: tool.input_schema as Record<string, unknown> } : {}),
      ...(strict !== undefined ? { strict } : {}),
    };
  });
  const choice = given(body.tool_choice);
  if (!tools.length) {
    if (choice && choice.type !== 'auto' && choice.type !== 'none') throw badField('tool_choice', `tool_choice ${choice.type} needs tools`);
    return {};
  }
  if (choice?.type === 'tool' && !tools.some((tool) => tool.name === choice.name)) {
    throw badField('tool_choice.name', `names a tool that is not among the tools: ${choice.name}`);
  }
  const toolChoice: ToolChoice =
    choice?.type === 'any' ? 'required' : choice?.type === 'tool' ? { name: choice.name } : choice?.type === 'none' ? 'none' : 'auto';
  const single = choice && choice.type !== 'none' && choice.disable_parallel_tool_use === true;
  return { tools, toolChoice, ...(single ? { parallelToolCalls: false } : {}) };
}

/** Extended thinking's budget as a reasoning effort, where the model takes one (see MessagesBody.thinking). */
function effortOfBudget(budget: number | undefined): Sampling['reasoningEffort'] {
  if (budget === undefined) return undefined;
  return budget < 4096 ? 'low' : budget < 16_384 ? 'medium' : 'high';
}

/** The Messages API's options that a provider may honour, as the generation's sampling options. */
function samplingOf(body: MessagesBody): Sampling | undefined {
  const stop = given(body.stop_sequences);
  const output = given(body.output_config);
  const format = given(output?.format);
  const thinking = given(body.thinking);
  const sampling: Sampling = {
    topP: given(body.top_p),
    stop: stop?.length ? stop : undefined,
    user: given(given(body.metadata)?.user_id),
    responseFormat: format
      ? { type: 'json_schema', jsonSchema: { name: 'output', schema: format.schema as Record<string, unknown> } }
      : undefined,
    reasoningEffort: given(output?.effort) ?? (thinking?.type === 'enabled' ? effortOfBudget(thinking.budget_tokens) : undefined),
  };
  const set = Object.entries(sampling).filter(([, value]) => value !== undefined);
  return set.length ? (Object.fromEntries(set) as Sampling) : undefined;
}

/** Whether the caller asked to see the model's thinking (thinking enabled or adaptive). */
export const wantsThinking = (body: Pick<MessagesBody, 'thinking'>): boolean => {
  const type = given(body.thinking)?.type;
  return type === 'enabled' || type === 'adaptive';
};

/**
 * The request as a stateless conversation (see StatelessConversation), and for each of its turns
 * the index of the message it came from. `provider/model` names the provider, as on
 * /v1/chat/completions; top_k is ignored (no provider path takes it).
 */
export function toStateless(body: MessagesBody): { conversation: StatelessConversation; from: number[] } {
  if (given(body.mcp_servers)?.length) throw badField('mcp_servers', 'Parley connects to no MCP servers');
  const { turns, from } = toTurns(body.messages);
  const system = systemOf(body.system);
  if (!turns.length && !system) throw badField('messages', 'The conversation says nothing: send at least one message with content');
  return {
    conversation: {
      messages: turns,
      system,
      ...modelOf(body.model),
      temperature: given(body.temperature),
      maxTokens: body.max_tokens,
      sampling: samplingOf(body),
      ...toolsOf(body),
    },
    from,
  };
}

/**
 * The tokens a request's input is estimated to take: its system prompt, turns (text, tool calls
 * and results) and images as Parley estimates every prompt (estimateUsage: ~4 characters a token,
 * 1000 an image), plus the tools' definitions as JSON text. Throws 400 (badField) for blocks
 * Parley does not take, as /v1/messages would.
 *
 * Why an estimate, even for anthropic models, whose API counts exactly: the count answers the same
 * for every provider a request may be routed (or fall back) to, costs no upstream call, no latency
 * and no LLM limit, and is the count Parley's own budgets use; Anthropic's own count_tokens is
 * documented as an estimate too.
 */
export function estimateInputTokens(body: Pick<CountTokensBody, 'messages' | 'system' | 'tools'>): number {
  const { turns } = toTurns(body.messages);
  const tools = given(body.tools);
  return (
    estimateUsage({ messages: turns, system: systemOf(body.system) }, '').inputTokens +
    (tools?.length ? estimateTokens(JSON.stringify(tools)) : 0)
  );
}
