// A Responses API request as a stateless reply: the stored conversation it continues
// (previous_response_id), then its input items as the provider layer's turns (messages, function
// calls and their outputs, item references resolved), its function tools, and its optional fields
// as sampling options. What Parley cannot honour is refused here, naming the field as OpenAI
// would (`input[2].content[0]`, `tools[1]`), before anything is counted or sent.
import type { TSchema } from '@sinclair/typebox';
import { type TypeCheck, TypeCompiler } from '@sinclair/typebox/compiler';
import { canonicalProvider } from '../../config/vocabulary.ts';
import {
  type ChatMessage,
  type ContentPart,
  imagePartFromUrl,
  type Sampling,
  type ToolChoice,
  type ToolDefinition,
} from '../../infra/llm/index.ts';
import type { StatelessConversation } from '../models/service.ts';
import { badParam, openAiParam } from './errors.ts';
import { maxContentLength } from './model.ts';
import {
  FunctionCall,
  FunctionCallOutput,
  type GivenItem,
  type InputItem,
  ItemReference,
  Message,
  Reasoning,
  type ResponseBody,
} from './responses-model.ts';

const itemSchemas: Record<string, TypeCheck<TSchema>> = {
  message: TypeCompiler.Compile(Message),
  function_call: TypeCompiler.Compile(FunctionCall),
  function_call_output: TypeCompiler.Compile(FunctionCallOutput),
  item_reference: TypeCompiler.Compile(ItemReference),
  reasoning: TypeCompiler.Compile(Reasoning),
};

/** An input item held to its own type's schema: 400 naming the field at fault in it, or the type Parley does not take. */
function checkedItem(item: GivenItem, at: number): InputItem {
  const type = item.type ?? 'message';
  const schema = Object.hasOwn(itemSchemas, type) ? itemSchemas[type] : undefined;
  if (!schema) {
    throw badParam(`input[${at}].type`, `Parley takes ${Object.keys(itemSchemas).join(', ')} items, not ${type}`);
  }
  const error = schema.Errors(item).First();
  if (error) throw badParam(openAiParam(`body.input.${at}${error.path.replaceAll('/', '.')}`) ?? `input[${at}]`, error.message);
  return item as InputItem;
}

/**
 * What a stored response hands on to one that continues it: the system text of its input
 * messages (instructions are not carried over, as OpenAI says) and every turn so far, its own
 * reply last.
 */
export type StoredConversation = { system: string | null; turns: ChatMessage[] };

/** The item an `item_reference` names, from a response the caller stored; throws 404 naming `input[at]`. */
export type ItemResolver = (itemId: string, at: number) => Promise<InputItem>;

type Part = Extract<Extract<InputItem, { role: string }>['content'], unknown[]>[number];

/** Text parts' text joined, as OpenAI reads them; `where` names the field if it is too long. */
function textOf(parts: Part[], where: string): string {
  const text = parts.map((part) => (part.type === 'input_text' || part.type === 'output_text' ? part.text : '')).join('');
  if (text.length > maxContentLength) throw badParam(where, `holds more than ${maxContentLength} characters of text`);
  return text;
}

/** As textOf, for content that holds text only (system text, an assistant's, a tool's output): any other part is refused, naming it. */
function onlyText(parts: Part[], where: string): string {
  for (const [j, part] of parts.entries()) {
    if (part.type === 'input_image' || part.type === 'input_file' || part.type === 'input_audio') {
      throw badParam(`${where}[${j}]`, `Only text is taken here, not ${part.type}`);
    }
  }
  return textOf(parts, where);
}

/** A user turn's content: text, or text and images in order; files, audio and image file ids refused naming the part. */
function userContent(content: string | Part[], at: number): string | ContentPart[] {
  if (typeof content === 'string') return content;
  const text = textOf(content, `input[${at}].content`);
  if (content.every((part) => part.type !== 'input_image' && part.type !== 'input_file' && part.type !== 'input_audio')) return text;
  return content.flatMap((part, j): ContentPart[] => {
    const where = `input[${at}].content[${j}]`;
    if (part.type === 'input_text' || part.type === 'output_text') return [{ type: 'text', text: part.text }];
    if (part.type === 'refusal') return [];
    if (part.type === 'input_image') {
      if (!part.image_url) throw badParam(where, 'Parley has no OpenAI file store: send the image as image_url (an http(s) or data: URL)');
      const image = imagePartFromUrl(part.image_url);
      if (!image) throw badParam(where, 'An image must be an http(s) URL or a base64 data: URL of a PNG, JPEG, GIF or WebP image');
      return [image];
    }
    throw badParam(where, `${part.type} is not supported: upload files to /api/v1/files and send their text; transcribe audio first`);
  });
}

/** The input as turns (and for each turn the index of the item it came from), and the system text of its messages. */
async function inputTurns(input: ResponseBody['input'], resolve: ItemResolver) {
  const turns: ChatMessage[] = [];
  const from: number[] = [];
  const system: string[] = [];
  if (input === undefined) return { turns, from, system };
  if (typeof input === 'string') return { turns: [{ role: 'user', content: input } as ChatMessage], from: [0], system };
  const take = (turn: ChatMessage, at: number) => {
    turns.push(turn);
    from.push(at);
  };
  for (const [at, given] of input.entries()) {
    const checked = checkedItem(given, at);
    const item = checked.type === 'item_reference' ? await resolve(checked.id, at) : checked;
    if (item.type === 'reasoning' || item.type === 'item_reference') continue;
    if (item.type === 'function_call') {
      const call = { id: item.call_id, name: item.name, arguments: item.arguments };
      const last = turns.at(-1);
      // Calls after the model's text (or after other calls) are that same assistant turn.
      if (last?.role === 'assistant') last.toolCalls = [...(last.toolCalls ?? []), call];
      else take({ role: 'assistant', content: '', toolCalls: [call] }, at);
      continue;
    }
    if (item.type === 'function_call_output') {
      const output = typeof item.output === 'string' ? item.output : onlyText(item.output, `input[${at}].output`);
      take({ role: 'tool', toolCallId: item.call_id, content: output }, at);
      continue;
    }
    const { role, content } = item;
    if (role === 'system' || role === 'developer') {
      system.push(typeof content === 'string' ? content : onlyText(content, `input[${at}].content`));
    } else if (role === 'user') {
      take({ role: 'user', content: userContent(content, at) }, at);
    } else {
      take({ role: 'assistant', content: typeof content === 'string' ? content : onlyText(content, `input[${at}].content`) }, at);
    }
  }
  return { turns, from, system };
}

/**
 * The function tools and tool choice for the provider layer; nothing without tools. Built-in
 * tools (web_search, file_search…) and choices of them are refused naming the field; an
 * `allowed_tools` choice narrows the tools to those it names.
 */
export function responseToolsOf(body: ResponseBody): { tools?: ToolDefinition[]; toolChoice?: ToolChoice; parallelToolCalls?: boolean } {
  const choice = body.tool_choice ?? undefined;
  let tools = (body.tools ?? []).map((tool, i): ToolDefinition => {
    if (tool.type !== 'function')
      throw badParam(`tools[${i}]`, `Parley takes function tools only: the built-in ${tool.type} tool is not available`);
    if (!('name' in tool) || typeof tool.name !== 'string') throw badParam(`tools[${i}].name`, 'A function tool needs a name');
    const { name, description, parameters, strict } = tool as Extract<typeof tool, { name: string }>;
    return {
      name,
      ...(description != null ? { description } : {}),
      ...(parameters != null ? { parameters: parameters as Record<string, unknown> } : {}),
      ...(strict != null ? { strict } : {}),
    };
  });
  if (!tools.length) {
    if (choice !== undefined && choice !== 'none' && choice !== 'auto') throw badParam('tool_choice', 'tool_choice needs tools');
    return {};
  }
  let toolChoice: ToolChoice | undefined;
  if (typeof choice === 'string') toolChoice = choice;
  else if (choice?.type === 'function' && 'name' in choice && typeof choice.name === 'string') toolChoice = { name: choice.name };
  else if (choice?.type === 'allowed_tools' && 'mode' in choice && 'tools' in choice) {
    const allowed = new Set((choice.tools as { type: string; name?: string }[]).flatMap((tool) => (tool.name ? [tool.name] : [])));
    tools = tools.filter((tool) => allowed.has(tool.name));
    if (!tools.length) throw badParam('tool_choice', 'allowed_tools names none of the function tools given');
    toolChoice = choice.mode as 'auto' | 'required';
  } else if (choice?.type === 'function') throw badParam('tool_choice.name', 'Name the function: {type: "function", name}');
  else if (choice !== undefined) throw badParam('tool_choice', 'Parley takes function tools only: name one as {type: "function", name}');
  if (typeof toolChoice === 'object' && !tools.some((tool) => tool.name === (toolChoice as { name: string }).name)) {
    throw badParam('tool_choice', 'tool_choice names a function that is not among the tools');
  }
  const parallel = body.parallel_tool_calls ?? undefined;
  return { tools, ...(toolChoice ? { toolChoice } : {}), ...(parallel !== undefined ? { parallelToolCalls: parallel } : {}) };
}

/** The request's optional fields that a provider may honour, as sampling options. */
function samplingOf(body: ResponseBody): Sampling | undefined {
  const format = body.text?.format;
  const sampling: Sampling = {
    topP: body.top_p ?? undefined,
    responseFormat:
      format?.type === 'json_schema'
        ? {
            type: 'json_schema',
            jsonSchema: {
              name: format.name,
              schema: format.schema,
              ...(format.description != null ? { description: format.description } : {}),
              ...(format.strict != null ? { strict: format.strict } : {}),
            },
          }
        : format && { type: format.type },
    user: body.user ?? undefined,
    reasoningEffort: body.reasoning?.effort ?? undefined,
    // OpenAI's reasoning models take only max_completion_tokens, which is what max_output_tokens is.
    maxCompletionTokens: body.max_output_tokens != null ? true : undefined,
  };
  const set = Object.entries(sampling).filter(([, value]) => value !== undefined);
  return set.length ? (Object.fromEntries(set) as Sampling) : undefined;
}

/** Refuses what Parley cannot do at all: background responses, stored prompts and conversations. */
function refuseWhatCannotBeHonoured(body: ResponseBody): void {
  if (body.background) throw badParam('background', 'Parley answers in the foreground: background must be false');
  if (body.conversation != null) throw badParam('conversation', 'Parley keeps no conversations: continue with previous_response_id');
  if (body.prompt != null) throw badParam('prompt', 'Parley keeps no prompt templates: send instructions and input');
}

/**
 * The request as a stateless conversation: `prior`'s turns (the response it continues) then its
 * input's; the system prompt is the instructions, then the system text of the chain's and the
 * input's messages. Also, for each turn, the input item it came from (-1: the previous response),
 * and what a stored response of this request hands on (its reply still to be added).
 */
export async function toResponseConversation(
  body: ResponseBody,
  prior: StoredConversation | undefined,
  resolve: ItemResolver,
): Promise<{ conversation: StatelessConversation; from: number[]; handedOn: StoredConversation }> {
  refuseWhatCannotBeHonoured(body);
  const input = await inputTurns(body.input, resolve);
  const inputSystem = [prior?.system, ...input.system].filter((text): text is string => !!text).join('\n\n') || null;
  const system = [body.instructions, inputSystem].filter((text): text is string => !!text).join('\n\n') || undefined;
  const turns = [...(prior?.turns ?? []), ...input.turns];
  if (!turns.length && !system) throw badParam('input', 'The conversation says nothing: send input (a message, or items)');
  const [first = '', ...rest] = body.model.split('/');
  const provider = rest.length > 0 ? canonicalProvider(first) : undefined;
  return {
    conversation: {
      messages: turns,
      system,
      provider,
      model: provider ? rest.join('/') : body.model,
      temperature: body.temperature ?? undefined,
      maxTokens: body.max_output_tokens ?? undefined,
      sampling: samplingOf(body),
      ...responseToolsOf(body),
    },
    from: [...(prior?.turns ?? []).map(() => -1), ...input.from],
    handedOn: { system: inputSystem, turns: structuredClone(turns) },
  };
}
