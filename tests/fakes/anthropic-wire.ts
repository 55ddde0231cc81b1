// Anthropic Messages wire format.
import type { Message, RawMessageStreamEvent, Usage } from '@anthropic-ai/sdk/resources/messages';
import { type FakeCall, type FakeChoice, type FakeTool, jsonReply, piecesOf, plannedCalls } from './tool-calls.ts';
import {
  type Ctx,
  countWords,
  type Frame,
  IMAGE_MEDIA_TYPES,
  isBase64,
  isHttpUrl,
  isRecord,
  json,
  planFor,
  retryHeaders,
  splitWords,
  stallFrame,
  textOf,
} from './upstream-core.ts';

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  503: 'api_error',
  529: 'overloaded_error',
};

export function anthropicError(status: number, message?: string, requestId = 'req_fake'): Response {
  const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
  return json(
    status,
    { type: 'error', error: { type, message: message ?? `${type} (fake upstream)` }, request_id: requestId },
    { 'request-id': requestId, ...retryHeaders(status) },
  );
}

/** The first of the request's stop sequences the reply holds, and where: the real API ends the reply before it. */
function stopSequenceIn(reply: string, sequences: unknown): { sequence: string; at: number } | undefined {
  const found = (Array.isArray(sequences) ? sequences : [])
    .filter((sequence): sequence is string => typeof sequence === 'string' && sequence !== '')
    .map((sequence) => ({ sequence, at: reply.indexOf(sequence) }))
    .filter((hit) => hit.at >= 0);
  return found.sort((a, b) => a.at - b.at)[0];
}

function lastUserText(messages: unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (isRecord(m) && m.role === 'user') return textOf(m.content);
  }
  return '';
}

function usage(input: number, output: number): Usage {
  return {
    input_tokens: input,
    output_tokens: output,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: null,
    inference_geo: null,
    output_tokens_details: null,
    server_tool_use: null,
    service_tier: 'standard',
    speed: null,
  };
}

/**
 * What the Messages API answers 400 about a message's content blocks, or undefined: `text` blocks
 * anywhere, `image` blocks in user turns only, their source `base64` (a PNG, JPEG, GIF or WebP
 * media_type and base64 data) or `url` (an http(s) URL).
 */
function contentProblem(messages: unknown[]): string | undefined {
  // The tool_use ids of the assistant turn just before, which this user turn must answer.
  const open = new Set<string>();
  for (const [i, message] of messages.entries()) {
    const blocks = isRecord(message) && Array.isArray(message.content) ? message.content : [];
    const answered = blocks
      .filter((b) => isRecord(b) && b.type === 'tool_result')
      .map((b) => String((b as { tool_use_id?: unknown }).tool_use_id));
    for (const id of answered) {
      if (!open.delete(id)) {
        return `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`;
      }
    }
    if (open.size) {
      return `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${[...open].join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`;
    }
    if (!isRecord(message) || !Array.isArray(message.content)) continue;
    for (const [j, block] of message.content.entries()) {
      const where = `messages.${i}.content.${j}`;
      if (!isRecord(block)) return `${where}: Input should be a valid dictionary`;
      if (block.type === 'text') {
        if (typeof block.text !== 'string') return `${where}.text.text: Field required`;
        continue;
      }
      if (block.type === 'tool_use' && message.role === 'assistant') {
        if (typeof block.id !== 'string' || typeof block.name !== 'string') return `${where}.tool_use: id and name are required`;
        if (!isRecord(block.input)) return `${where}.tool_use.input: Input should be a valid dictionary`;
        open.add(block.id);
        continue;
      }
      if (block.type === 'tool_result' && message.role === 'user') {
        if (block.content !== undefined && typeof block.content !== 'string' && !Array.isArray(block.content)) {
          return `${where}.tool_result.content: Input should be a valid string or list`;
        }
        continue;
      }
      if (block.type !== 'image') return `${where}: Input tag '${String(block.type)}' does not match any of the expected tags`;
      if (message.role !== 'user') return `${where}: Image content is only supported in user messages`;
      const source = isRecord(block.source) ? block.source : {};
      if (source.type === 'base64') {
        if (!IMAGE_MEDIA_TYPES.includes(String(source.media_type))) {
          return `${where}.image.source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'`;
        }
        if (!isBase64(source.data)) return `${where}.image.source.base64.data: The image data is not valid base64`;
      } else if (source.type !== 'url' || !isHttpUrl(source.url)) {
        return `${where}.image.source: Input should be a base64 or url source`;
      }
    }
  }
  if (open.size) return `\`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${[...open].join(', ')}`;
  return undefined;
}

/** Anthropic's 400 for a history holding tool blocks in a request that defines no tools (anthropic-sdk-python#494). */
function toolsProblem(body: Record<string, unknown>): string | undefined {
  if (Array.isArray(body.tools) && body.tools.length > 0) return undefined;
  const blocks = (Array.isArray(body.messages) ? body.messages : []).flatMap((message) =>
    isRecord(message) && Array.isArray(message.content) ? message.content : [],
  );
  if (blocks.some((block) => isRecord(block) && (block.type === 'tool_use' || block.type === 'tool_result')))
    return 'Requests which include `tool_use` or `tool_result` blocks must define tools.';
  return undefined;
}

/** The request's tools and tool choice (Anthropic's words), as the fake plans with them. */
function toolsOf(body: Record<string, unknown>): { tools: FakeTool[]; choice: FakeChoice; parallel: boolean } {
  const tools = (Array.isArray(body.tools) ? body.tools : []).flatMap((tool) =>
    isRecord(tool) && typeof tool.name === 'string' ? [{ name: tool.name, schema: tool.input_schema }] : [],
  );
  const choice = isRecord(body.tool_choice) ? body.tool_choice : {};
  const parallel = choice.disable_parallel_tool_use !== true;
  if (choice.type === 'tool' && typeof choice.name === 'string') return { tools, choice: { name: choice.name }, parallel };
  return { tools, choice: choice.type === 'any' ? 'required' : choice.type === 'none' ? 'none' : 'auto', parallel };
}

/** The text of the tool results a user turn carries, or undefined when it carries none. */
function toolResultText(message: unknown): string | undefined {
  if (!isRecord(message) || !Array.isArray(message.content)) return undefined;
  const results = message.content.filter((b) => isRecord(b) && b.type === 'tool_result') as { content?: unknown }[];
  return results.length ? results.map((b) => textOf(b.content)).join(' ') : undefined;
}

export async function messages(ctx: Ctx): Promise<Response> {
  const body = ctx.body;
  if (!isRecord(body) || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
    return anthropicError(400, 'model: Field required; messages: Field required');
  }
  const problem = contentProblem(body.messages) ?? toolsProblem(body);
  if (problem) return anthropicError(400, problem);
  // The real API rejects requests without max_tokens; catching that here keeps app code honest.
  if (typeof body.max_tokens !== 'number') return anthropicError(400, 'max_tokens: Field required');

  const model = body.model;
  const msgs: unknown[] = body.messages;
  const result = toolResultText(msgs.at(-1));
  const plan = planFor(model, result !== undefined ? `tool result: ${result}` : lastUserText(msgs), ctx.opts);
  const requestId = ctx.nextId('req_');
  if (plan.errorStatus) return anthropicError(plan.errorStatus, undefined, requestId);
  if (model === 'fake-json') {
    const config = isRecord(body.output_config) && isRecord(body.output_config.format) ? body.output_config.format : {};
    plan.reply = jsonReply(config.schema ?? { type: 'object', properties: { reply: { type: 'string' } } }, plan.reply);
    plan.chunks = piecesOf(plan.reply, 4);
  }
  const calls = plannedCalls({ model, ...toolsOf(body), afterToolResult: result !== undefined, nextId: () => ctx.nextId('toolu_fake') });

  if (calls.length) return toolUseMessage(ctx, body, calls, requestId);
  await ctx.sleep(plan.firstByteDelayMs);
  const stop = stopSequenceIn(plan.reply, body.stop_sequences);
  if (stop) {
    plan.reply = plan.reply.slice(0, stop.at);
    plan.chunks = splitWords(plan.reply);
  }

  const inputTokens =
    countWords(textOf(body.system)) + msgs.reduce<number>((n, m) => n + (isRecord(m) ? countWords(textOf(m.content)) : 0), 0);
  const outputTokens = countWords(plan.reply);
  const headers = { 'request-id': requestId };
  const thinking = plan.reasoning.join('');
  const signature = 'c2lnbmF0dXJlLWZha2U=';
  // The no-finish scenarios name no stop reason: null, or "" (not a value the SDK's types allow).
  const stopReason = (stop ? 'stop_sequence' : plan.finishReason === 'stop' ? 'end_turn' : plan.finishReason) as 'end_turn';
  const stopSequence = stop?.sequence ?? null;
  const message = {
    id: ctx.nextId('msg_fake'),
    type: 'message',
    role: 'assistant',
    model,
    content: [
      ...(thinking ? [{ type: 'thinking' as const, thinking, signature }] : []),
      { type: 'text' as const, text: plan.reply, citations: null },
    ],
    stop_reason: stopReason,
    stop_sequence: stopSequence,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: usage(inputTokens, outputTokens),
  } satisfies Message;

  if (body.stream !== true) {
    if (plan.ending === 'error') return anthropicError(529, 'Overloaded', requestId);
    const text = JSON.stringify(message);
    // Truncated non-stream: the body is cut mid-JSON, like a dropped connection.
    if (plan.ending === 'truncated' || plan.ending === 'cut') {
      const half: Frame = { text: text.slice(0, Math.floor(text.length / 2)), delayMs: 0 };
      return ctx.stream(plan.ending === 'cut' ? [half, { text: '', delayMs: 0, cut: true }] : [half], 'application/json', headers);
    }
    await ctx.sleep(plan.chunkDelayMs * plan.chunks.length);
    return json(200, message, headers);
  }

  const sse = (event: RawMessageStreamEvent | { type: 'ping' }, delayMs = 0): Frame => ({
    text: `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`,
    delayMs,
  });
  // Thinking, when the scenario has some, is block 0 (thinking deltas, then its signature); the text follows.
  const textIndex = thinking ? 1 : 0;
  const frames: Frame[] = [
    sse({
      type: 'message_start',
      message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: usage(inputTokens, 1) },
    }),
    ...(thinking
      ? [
          sse({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
          ...plan.reasoning.map((w) =>
            sse({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: w } }, plan.reasoningDelayMs),
          ),
          sse({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature } }),
          sse({ type: 'content_block_stop', index: 0 }),
        ]
      : []),
    sse({ type: 'content_block_start', index: textIndex, content_block: { type: 'text', text: '', citations: null } }),
    sse({ type: 'ping' }),
    ...plan.chunks.map((w) =>
      sse({ type: 'content_block_delta', index: textIndex, delta: { type: 'text_delta', text: w } }, plan.chunkDelayMs),
    ),
  ];
  if (plan.ending === 'error') {
    const err = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' }, request_id: requestId };
    frames.push({ text: `event: error\ndata: ${JSON.stringify(err)}\n\n`, delayMs: 0 });
  } else if (plan.ending === 'cut') {
    frames.push({ text: '', delayMs: 0, cut: true });
  } else if (plan.ending === 'stall') {
    frames.push(stallFrame());
  } else if (plan.ending === 'malformed') {
    frames.push({ text: 'event: content_block_delta\ndata: {"type": "content_block_delta", "delta":\n\n', delayMs: 0 });
  } else if (plan.ending === 'normal') {
    frames.push(
      sse({ type: 'content_block_stop', index: textIndex }),
      sse({
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: stopSequence, stop_details: null, container: null },
        usage: {
          output_tokens: outputTokens,
          input_tokens: inputTokens,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens_details: null,
          server_tool_use: null,
        },
      }),
      sse({ type: 'message_stop' }),
    );
  }
  return ctx.stream(frames, 'text/event-stream; charset=utf-8', headers);
}

/** `GET /v1/models` for clients that send `anthropic-version`. */
export function anthropicModels(ctx: Ctx): Response {
  const data = ctx.opts.anthropicModels.map((id) => ({
    type: 'model',
    id,
    display_name: id,
    created_at: '2025-01-01T00:00:00Z',
  }));
  return json(200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
}

/** A reply that only calls tools: `tool_use` blocks and stop_reason `tool_use`, or streamed as Anthropic streams them. */
function toolUseMessage(ctx: Ctx, body: Record<string, unknown>, calls: FakeCall[], requestId: string): Response {
  const msgs = body.messages as unknown[];
  const inputTokens =
    countWords(textOf(body.system)) + msgs.reduce<number>((n, m) => n + (isRecord(m) ? countWords(textOf(m.content)) : 0), 0);
  const outputTokens = calls.reduce((n, call) => n + countWords(call.arguments.replace(/[{}":,]/g, ' ')) + 1, 0);
  const headers = { 'request-id': requestId };
  const blocks = calls.map((call) => ({
    type: 'tool_use' as const,
    id: call.id,
    name: call.name,
    input: JSON.parse(call.arguments) as unknown,
    caller: { type: 'direct' as const },
  }));
  const message = {
    id: ctx.nextId('msg_fake'),
    type: 'message',
    role: 'assistant',
    model: String(body.model),
    content: blocks,
    stop_reason: 'tool_use',
    stop_sequence: null,
    stop_details: null,
    container: null,
    diagnostics: null,
    usage: usage(inputTokens, outputTokens),
  } satisfies Message;
  if (body.stream !== true) return json(200, message, headers);
  const sse = (event: RawMessageStreamEvent): Frame => ({ text: `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`, delayMs: 0 });
  const frames: Frame[] = [
    sse({ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: usage(inputTokens, 1) } }),
    ...calls.flatMap((call, index) => [
      sse({
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: call.id, name: call.name, input: {}, caller: { type: 'direct' } },
      }),
      ...piecesOf(call.arguments).map((piece) =>
        sse({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }),
      ),
      sse({ type: 'content_block_stop', index }),
    ]),
    sse({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null, stop_details: null, container: null },
      usage: {
        output_tokens: outputTokens,
        input_tokens: inputTokens,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
        output_tokens_details: null,
        server_tool_use: null,
      },
    }),
    sse({ type: 'message_stop' }),
  ];
  return ctx.stream(frames, 'text/event-stream; charset=utf-8', headers);
}
