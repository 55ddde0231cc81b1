// A Chat Completions request as a stateless reply: its conversation as the provider layer's turns
// (text, images, tool calls and tool results), its tools, and its optional fields as sampling
// options. What Parley cannot honour is refused here, naming the field as OpenAI would, before
// anything is counted or sent.
import {
  type ChatMessage,
  type ContentPart,
  imagePartFromUrl,
  type Sampling,
  type ToolChoice,
  type ToolDefinition,
} from '../../infra/llm/index.ts';
import { modelOf } from '../gateway/service.ts';
import type { StatelessConversation } from '../models/service.ts';
import { maxChoices } from './choices.ts';
import { badParam } from './errors.ts';
import { type CompletionBody, type CompletionMessage, maxContentLength } from './model.ts';

/** `null` in OpenAI's request means "the default": the same as leaving the field out. */
export const given = <T>(value: T | null | undefined): T | undefined => value ?? undefined;

type TextContent = string | { type: 'text'; text: string }[];

/** Text content as one string: a string as it is, text parts joined (as OpenAI reads them, with nothing between). */
const joined = (content: TextContent): string => (typeof content === 'string' ? content : content.map((part) => part.text).join(''));

/**
 * Refuses, naming the field, what Parley cannot honour (everything else is either sent on or
 * harmlessly ignored): more than `maxChoices` choices (choices.ts), audio output, web search, and the deprecated
 * `functions` / `function_call` (send `tools` / `tool_choice`). Log probabilities depend on the
 * provider: the route checks them once the model is resolved.
 */
function refuseWhatCannotBeHonoured(body: CompletionBody): void {
  const n = given(body.n);
  if (n !== undefined && n > maxChoices) throw badParam('n', `Each choice is a reply of its own: n is at most ${maxChoices}`);
  if (body.modalities?.includes('audio')) throw badParam('modalities', 'Parley answers in text only: modalities must be ["text"]');
  if (given(body.audio)) throw badParam('audio', 'Parley answers in text only: audio output is not available');
  if (given(body.web_search_options)) throw badParam('web_search_options', 'Parley does not search the web for a completion');
  if (given(body.functions)) throw badParam('functions', '`functions` is deprecated and not taken: send `tools`');
  if (given(body.function_call)) throw badParam('function_call', '`function_call` is deprecated and not taken: send `tool_choice`');
}

/** A user turn's content as the provider layer's: images from their URL; audio and files refused naming the part. */
function userContent(content: Extract<CompletionMessage, { role: 'user' }>['content'], at: number): string | ContentPart[] {
  if (typeof content === 'string') return content;
  // Text parts alone are one text, as OpenAI reads them (and as every provider takes text).
  if (content.every((part) => part.type === 'text')) return joined(content as { type: 'text'; text: string }[]);
  return content.map((part, j): ContentPart => {
    const where = `messages[${at}].content[${j}]`;
    if (part.type === 'text') return { type: 'text', text: part.text };
    if (part.type === 'image_url') {
      const image = imagePartFromUrl(part.image_url.url);
      if (!image) throw badParam(where, 'An image must be an http(s) URL or a base64 data: URL of a PNG, JPEG, GIF or WebP image');
      return image;
    }
    if (part.type === 'input_audio') throw badParam(where, 'Audio input is not supported in chat completions: transcribe it first');
    throw badParam(where, 'File input is not supported in chat completions: upload the file and send its text');
  });
}

/**
 * The messages as turns for the provider layer, system and developer text apart (joined, in
 * order, into the system prompt), and for each turn the index of the message it came from (so a
 * refusal of turn `i` can name `messages[from[i]]`).
 */
export function toConversation(messages: CompletionMessage[]): { turns: ChatMessage[]; system: string | undefined; from: number[] } {
  const system: string[] = [];
  const turns: ChatMessage[] = [];
  const from: number[] = [];
  for (const [at, message] of messages.entries()) {
    const text = (content: TextContent) => {
      const value = joined(content);
      // A content's limit holds for its text whatever its shape: one string, or parts joined.
      if (value.length > maxContentLength)
        throw badParam(`messages[${at}].content`, `holds more than ${maxContentLength} characters of text`);
      return value;
    };
    if (message.role === 'system' || message.role === 'developer') {
      system.push(text(message.content));
      continue;
    }
    if (message.role === 'function')
      throw badParam(`messages[${at}].role`, 'Function messages are deprecated and not taken: send tool messages');
    from.push(at);
    if (message.role === 'tool') {
      turns.push({ role: 'tool', toolCallId: message.tool_call_id, content: text(message.content) });
      continue;
    }
    if (message.role === 'user') {
      if (typeof message.content !== 'string') text(message.content.filter((part) => part.type === 'text'));
      turns.push({ role: 'user', content: userContent(message.content, at) });
      continue;
    }
    if (message.role !== 'assistant') continue; // system and developer: taken above
    if (given(message.function_call)) throw badParam(`messages[${at}].function_call`, '`function_call` is deprecated: send tool_calls');
    const content = given(message.content) ?? '';
    const said = text(typeof content === 'string' ? content : content.flatMap((part) => (part.type === 'text' ? [part] : [])));
    const toolCalls = message.tool_calls?.map((call) => ({ id: call.id, name: call.function.name, arguments: call.function.arguments }));
    turns.push({ role: 'assistant', content: said, ...(toolCalls?.length ? { toolCalls } : {}) });
  }
  return { turns, system: system.length ? system.join('\n\n') : undefined, from };
}

/**
 * The request's function tools and tool choice for the provider layer; nothing without tools. An
 * `allowed_tools` choice narrows the tools to those it names. Custom tools, a custom or unknown
 * named choice, or a choice that forces a call without tools are refused naming the field.
 */
export function toolsOf(body: CompletionBody): { tools?: ToolDefinition[]; toolChoice?: ToolChoice; parallelToolCalls?: boolean } {
  const given_ = given(body.tools) ?? [];
  const choice = given(body.tool_choice);
  let tools = given_.map((tool, i): ToolDefinition => {
    if (tool.type !== 'function' || !tool.function) throw badParam(`tools[${i}]`, 'Only function tools (with a `function`) are taken');
    const { name, description, parameters } = tool.function;
    const strict = given(tool.function.strict);
    return {
      name,
      ...(description !== undefined ? { description } : {}),
      ...(parameters !== undefined ? { parameters: parameters as Record<string, unknown> } : {}),
      ...(strict !== undefined ? { strict } : {}),
    };
  });
  if (!tools.length) {
    if (choice !== undefined && choice !== 'none' && choice !== 'auto') throw badParam('tool_choice', 'tool_choice needs tools');
    return {};
  }
  let toolChoice: ToolChoice | undefined;
  if (typeof choice === 'string') toolChoice = choice;
  else if (choice?.type === 'function') toolChoice = { name: choice.function.name };
  else if (choice?.type === 'allowed_tools') {
    const allowed = new Set(choice.allowed_tools.tools.map((tool) => tool.function.name));
    tools = tools.filter((tool) => allowed.has(tool.name));
    if (!tools.length) throw badParam('tool_choice', 'allowed_tools names none of the tools given');
    toolChoice = choice.allowed_tools.mode;
  } else if (choice?.type === 'custom') throw badParam('tool_choice', 'Only function tools are taken');
  if (typeof toolChoice === 'object' && !tools.some((tool) => tool.name === (toolChoice as { name: string }).name)) {
    throw badParam('tool_choice', `tool_choice names a function that is not among the tools`);
  }
  const parallel = given(body.parallel_tool_calls);
  return { tools, ...(toolChoice ? { toolChoice } : {}), ...(parallel !== undefined ? { parallelToolCalls: parallel } : {}) };
}

/** OpenAI's optional request fields that a provider may honour, as the generation's sampling options. */
function samplingOf(body: CompletionBody): Sampling | undefined {
  const stop = given(body.stop);
  const format = given(body.response_format);
  const sampling: Sampling = {
    topP: given(body.top_p),
    stop: stop === undefined ? undefined : typeof stop === 'string' ? [stop] : stop,
    seed: given(body.seed),
    presencePenalty: given(body.presence_penalty),
    frequencyPenalty: given(body.frequency_penalty),
    responseFormat:
      format?.type === 'json_schema'
        ? {
            type: 'json_schema',
            jsonSchema: {
              name: format.json_schema.name,
              ...(format.json_schema.description !== undefined ? { description: format.json_schema.description } : {}),
              ...(format.json_schema.schema !== undefined ? { schema: format.json_schema.schema } : {}),
              ...(typeof format.json_schema.strict === 'boolean' ? { strict: format.json_schema.strict } : {}),
            },
          }
        : format && { type: format.type },
    user: given(body.user),
    reasoningEffort: given(body.reasoning_effort),
    maxCompletionTokens: given(body.max_completion_tokens) !== undefined ? true : undefined,
    logprobs: body.logprobs === true ? { top: given(body.top_logprobs) ?? 0 } : undefined,
  };
  const set = Object.entries(sampling).filter(([, value]) => value !== undefined);
  return set.length ? (Object.fromEntries(set) as Sampling) : undefined;
}

/**
 * The request as a stateless conversation (see StatelessConversation), and for each of its turns
 * the index of the message it came from. `provider/model` names the provider (`claude/…` is
 * anthropic's); a model without a known provider goes to the default provider as it is.
 */
export function toStateless(body: CompletionBody): { conversation: StatelessConversation; from: number[] } {
  refuseWhatCannotBeHonoured(body);
  const { turns, system, from } = toConversation(body.messages);
  if (!turns.length && !system) throw badParam('messages', 'The conversation says nothing: send at least one message with content');
  return {
    conversation: {
      messages: turns,
      system,
      ...modelOf(body.model),
      temperature: given(body.temperature),
      maxTokens: given(body.max_completion_tokens) ?? given(body.max_tokens),
      sampling: samplingOf(body),
      ...toolsOf(body),
    },
    from,
  };
}
