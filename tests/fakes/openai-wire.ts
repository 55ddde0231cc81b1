// OpenAI Chat Completions wire format (also served for Ollama's OpenAI-compatible API).
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { Model } from 'openai/resources/models';
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
  nowSeconds,
  planFor,
  retryHeaders,
  stallFrame,
  textOf,
} from './upstream-core.ts';

const ERRORS: Record<number, { type: string; code: string | null; message: string }> = {
  400: { type: 'invalid_request_error', code: null, message: 'Invalid request (fake upstream).' },
  401: { type: 'invalid_request_error', code: 'invalid_api_key', message: 'Incorrect API key provided (fake upstream).' },
  403: { type: 'invalid_request_error', code: 'unsupported_country_region_territory', message: 'Forbidden (fake upstream).' },
  404: { type: 'invalid_request_error', code: 'model_not_found', message: 'The model does not exist (fake upstream).' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached (fake upstream).' },
  500: { type: 'server_error', code: null, message: 'The server had an error processing your request (fake upstream).' },
  503: { type: 'server_error', code: 'service_unavailable', message: 'The engine is currently overloaded (fake upstream).' },
};

export function openaiError(status: number, message?: string, requestId = 'req_fake'): Response {
  const e = ERRORS[status] ?? {
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
    message: `HTTP ${status} (fake upstream).`,
  };
  return json(
    status,
    { error: { message: message ?? e.message, type: e.type, param: null, code: e.code } },
    { 'x-request-id': requestId, ...retryHeaders(status) },
  );
}

function lastUserText(messages: unknown[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (isRecord(m) && m.role === 'user') return textOf(m.content);
  }
  return '';
}

/**
 * What OpenAI answers 400 about a message's content parts, or undefined: a user turn takes `text`
 * and `image_url` parts (the URL http(s), or a base64 `data:` URL of PNG, JPEG, GIF or WebP), an
 * assistant or system turn only `text` (and `refusal`) parts.
 */
function contentProblem(messages: unknown[]): string | undefined {
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message) || !Array.isArray(message.content)) continue;
    for (const [j, part] of message.content.entries()) {
      const where = `messages[${i}].content[${j}]`;
      if (!isRecord(part)) return `Invalid type for '${where}': expected an object.`;
      if (part.type === 'text' || (part.type === 'refusal' && message.role === 'assistant')) {
        if (typeof part[part.type] !== 'string') return `Missing required parameter: '${where}.${part.type}'.`;
        continue;
      }
      if (part.type !== 'image_url' || message.role !== 'user') {
        return `Invalid value: '${String(part.type)}'. Supported values are: 'text'${message.role === 'user' ? " and 'image_url'" : ''}.`;
      }
      const url = isRecord(part.image_url) ? part.image_url.url : undefined;
      const data = typeof url === 'string' ? /^data:([^;,]+);base64,(.*)$/s.exec(url) : null;
      if (data ? !IMAGE_MEDIA_TYPES.includes(data[1]!) || !isBase64(data[2]) : !isHttpUrl(url)) {
        return `Invalid image URL: '${where}.image_url.url'. Expected a valid URL or a base64 data URL of a supported image.`;
      }
    }
  }
  return undefined;
}

/**
 * What OpenAI answers 400 about the tool turns, or undefined: an assistant turn without content
 * must have tool calls, each of which the very next turns answer (`role: "tool"` with its
 * `tool_call_id`); a tool turn answers a call of the assistant turn before it.
 */
function toolTurnProblem(messages: unknown[]): string | undefined {
  let open: Set<string> | undefined;
  for (const [i, message] of messages.entries()) {
    if (!isRecord(message)) return `Invalid type for 'messages[${i}]': expected an object.`;
    if (message.role === 'tool') {
      const id = message.tool_call_id;
      if (typeof id !== 'string') return `Missing required parameter: 'messages[${i}].tool_call_id'.`;
      if (!open?.delete(id)) {
        return "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.";
      }
      continue;
    }
    if (open?.size) {
      return `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(', ')}`;
    }
    open = undefined;
    if (message.role !== 'assistant') continue;
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    if ((message.content === null || message.content === undefined) && !calls.length) {
      return `Invalid value for 'messages[${i}].content': expected a string or an array, got null.`;
    }
    for (const call of calls) {
      if (!isRecord(call) || typeof call.id !== 'string' || !isRecord(call.function) || typeof call.function.name !== 'string') {
        return `Missing required parameter: 'messages[${i}].tool_calls'.`;
      }
      if (typeof call.function.arguments !== 'string')
        return `Invalid type for 'messages[${i}].tool_calls.function.arguments': expected a string.`;
    }
    if (calls.length) open = new Set(calls.map((call) => (call as { id: string }).id));
  }
  return undefined;
}

/**
 * The log probability the fake gives a token (each content chunk is one token): -0.25, with `top`
 * alternatives, the token itself first, then `alt1`, `alt2`… each one less likely.
 */
export function fakeLogprob(token: string, top: number) {
  const bytes = (text: string) => [...new TextEncoder().encode(text)];
  return {
    token,
    logprob: -0.25,
    bytes: bytes(token),
    top_logprobs: Array.from({ length: top }, (_, k) => {
      const alternative = k === 0 ? token : `alt${k}`;
      return { token: alternative, logprob: -0.25 - k, bytes: bytes(alternative) };
    }),
  };
}

/** The request's function tools and tool choice, as the fake plans with them. */
function toolsOf(body: Record<string, unknown>): { tools: FakeTool[]; choice: FakeChoice } {
  const tools = (Array.isArray(body.tools) ? body.tools : []).flatMap((tool) =>
    isRecord(tool) && isRecord(tool.function) && typeof tool.function.name === 'string'
      ? [{ name: tool.function.name, schema: tool.function.parameters }]
      : [],
  );
  const choice = body.tool_choice;
  if (isRecord(choice) && isRecord(choice.function) && typeof choice.function.name === 'string') {
    return { tools, choice: { name: choice.function.name } };
  }
  return { tools, choice: choice === 'none' || choice === 'required' ? choice : 'auto' };
}

export async function chatCompletions(ctx: Ctx): Promise<Response> {
  const body = ctx.body;
  if (!isRecord(body) || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
    return openaiError(400, "Missing required parameters: 'model' and 'messages'.");
  }
  // With `logprobs: true`, each content chunk carries its tokens' log probabilities (see fakeLogprobs).
  const top = typeof body.top_logprobs === 'number' ? body.top_logprobs : 0;
  const logprobsFor = (tokens: string[]) =>
    body.logprobs === true ? { content: tokens.map((token) => fakeLogprob(token, top)), refusal: null } : null;
  const problem = contentProblem(body.messages) ?? toolTurnProblem(body.messages);
  if (problem) return openaiError(400, problem);
  const model = body.model;
  const messages: unknown[] = body.messages;
  const last = messages.at(-1);
  const afterToolResult = isRecord(last) && last.role === 'tool';
  // After a tool result the model answers about it: the reply quotes it (`Fake reply to: tool result: …`).
  const plan = planFor(model, afterToolResult ? `tool result: ${textOf(last.content)}` : lastUserText(messages), ctx.opts);
  const requestId = ctx.nextId('req_');
  if (plan.errorStatus) return openaiError(plan.errorStatus, undefined, requestId);
  if (model === 'fake-json') {
    const format = isRecord(body.response_format) ? body.response_format : {};
    plan.reply = jsonReply(isRecord(format.json_schema) ? format.json_schema.schema : undefined, plan.reply);
    plan.chunks = piecesOf(plan.reply, 4);
  }
  const calls = plannedCalls({
    model,
    ...toolsOf(body),
    parallel: body.parallel_tool_calls !== false,
    afterToolResult,
    nextId: () => ctx.nextId('call_fake'),
  });
  if (calls.length) return toolCallCompletion(ctx, body, calls, requestId);

  await ctx.sleep(plan.firstByteDelayMs);

  const id = ctx.nextId('chatcmpl-fake');
  const created = nowSeconds();
  const promptTokens = messages.reduce<number>((n, m) => n + (isRecord(m) ? countWords(textOf(m.content)) : 0), 0);
  const completionTokens = countWords(plan.reply);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const headers = { 'x-request-id': requestId };

  if (body.stream !== true) {
    if (plan.ending === 'error') return openaiError(500, undefined, requestId);
    const completion = {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: plan.reply,
            refusal: null,
            annotations: [],
            // Not in the SDK's types: what DeepSeek and vLLM (reasoning_content) or Ollama (reasoning) return.
            ...(plan.reasoning.length ? { [plan.reasoningField]: plan.reasoning.join('') } : {}),
          },
          logprobs: logprobsFor(plan.chunks),
          finish_reason: (plan.finishReason ?? null) as 'stop',
        },
      ],
      usage,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
    } satisfies ChatCompletion;
    const text = JSON.stringify(completion);
    // Truncated non-stream: the body is cut mid-JSON, like a dropped connection.
    if (plan.ending === 'truncated' || plan.ending === 'cut') {
      const half: Frame = { text: text.slice(0, Math.floor(text.length / 2)), delayMs: 0 };
      return ctx.stream(plan.ending === 'cut' ? [half, { text: '', delayMs: 0, cut: true }] : [half], 'application/json', headers);
    }
    // Slow non-stream: the whole reply takes as long as the slow stream would.
    await ctx.sleep(plan.chunkDelayMs * plan.chunks.length);
    return json(200, completion, headers);
  }

  const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
  const chunk = (choices: ChatCompletionChunk['choices'], extra: Partial<ChatCompletionChunk> = {}): string => {
    const c: ChatCompletionChunk = {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: 'fp_fake',
      choices,
      // Real OpenAI puts `usage: null` on every chunk once usage was requested.
      ...(includeUsage ? { usage: null } : {}),
      ...extra,
    };
    return `data: ${JSON.stringify(c)}\n\n`;
  };

  // Until the finish chunk, every chunk carries `finish_reason: null`. The no-finish scenarios send
  // what bug report case #5 shows: their two content chunks with null or "" and then `[DONE]`, with
  // no role chunk, finish chunk or usage chunk.
  const bare = plan.finishReason !== 'stop';
  const pendingReason = (bare ? plan.finishReason : null) as null;
  const frames: Frame[] = [
    ...(bare
      ? []
      : [
          {
            text: chunk([{ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null }]),
            delayMs: 0,
          },
        ]),
    // Thinking first, in the field the scenario names (not in the SDK's types), with no content.
    ...plan.reasoning.map((w) => ({
      text: chunk([
        { index: 0, delta: { [plan.reasoningField]: w } as { content?: string }, logprobs: null, finish_reason: pendingReason },
      ]),
      delayMs: plan.reasoningDelayMs,
    })),
    ...plan.chunks.map((w) => ({
      text: chunk([{ index: 0, delta: { content: w }, logprobs: logprobsFor([w]), finish_reason: pendingReason }]),
      delayMs: plan.chunkDelayMs,
    })),
  ];
  if (plan.ending === 'error') {
    const err = {
      error: {
        message: 'The server had an error while processing your request (fake upstream).',
        type: 'server_error',
        param: null,
        code: null,
      },
    };
    frames.push({ text: `data: ${JSON.stringify(err)}\n\n`, delayMs: 0 });
  } else if (plan.ending === 'cut') {
    frames.push({ text: '', delayMs: 0, cut: true });
  } else if (plan.ending === 'stall') {
    frames.push(stallFrame());
  } else if (plan.ending === 'malformed') {
    frames.push(
      { text: 'data: {"choices": [{"delta": {"content": "unterminated\n\n', delayMs: 0 },
      { text: 'data: [DONE]\n\n', delayMs: 0 },
    );
  } else if (plan.ending === 'normal') {
    if (plan.finishReason === 'stop')
      frames.push({ text: chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]), delayMs: 0 });
    if (includeUsage && !bare) frames.push({ text: chunk([], { usage }), delayMs: 0 });
    frames.push({ text: 'data: [DONE]\n\n', delayMs: 0 });
  }
  return ctx.stream(frames, 'text/event-stream; charset=utf-8', headers);
}

/** `GET /v1/models`; Ollama models are listed too since Ollama serves them on the same `/v1`. */
export function openaiModels(ctx: Ctx): Response {
  const created = 1_700_000_000;
  const data: Model[] = [
    ...ctx.opts.openaiModels.map((id) => ({ id, object: 'model' as const, created, owned_by: 'openai' })),
    ...ctx.opts.ollamaModels.map((id) => ({ id, object: 'model' as const, created, owned_by: 'library' })),
  ];
  return json(200, { object: 'list', data });
}

/** A reply that only calls tools: `message.tool_calls` with `content: null`, or streamed as `delta.tool_calls` fragments. */
function toolCallCompletion(ctx: Ctx, body: Record<string, unknown>, calls: FakeCall[], requestId: string): Response {
  const id = ctx.nextId('chatcmpl-fake');
  const created = nowSeconds();
  const model = String(body.model);
  const messages = body.messages as unknown[];
  const promptTokens = messages.reduce<number>((n, m) => n + (isRecord(m) ? countWords(textOf(m.content)) : 0), 0);
  const completionTokens = calls.reduce((n, call) => n + countWords(call.arguments.replace(/[{}":,]/g, ' ')) + 1, 0);
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const headers = { 'x-request-id': requestId };
  const toolCalls = calls.map((call) => ({
    id: call.id,
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  }));
  if (body.stream !== true) {
    const completion = {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, refusal: null, annotations: [], tool_calls: toolCalls },
          logprobs: null,
          finish_reason: 'tool_calls',
        },
      ],
      usage,
      service_tier: 'default',
      system_fingerprint: 'fp_fake',
    } satisfies ChatCompletion;
    return json(200, completion, headers);
  }
  const includeUsage = isRecord(body.stream_options) && body.stream_options.include_usage === true;
  const chunk = (choices: ChatCompletionChunk['choices'], extra: Partial<ChatCompletionChunk> = {}): Frame => ({
    text: `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, system_fingerprint: 'fp_fake', choices, ...(includeUsage ? { usage: null } : {}), ...extra } satisfies ChatCompletionChunk)}\n\n`,
    delayMs: 0,
  });
  const delta = (toolCall: ChatCompletionChunk.Choice.Delta.ToolCall) =>
    chunk([{ index: 0, delta: { tool_calls: [toolCall] }, logprobs: null, finish_reason: null }]);
  const frames: Frame[] = [
    chunk([{ index: 0, delta: { role: 'assistant', content: null, refusal: null }, logprobs: null, finish_reason: null }]),
    // Each call: its id and name with empty arguments, then the arguments in pieces, as OpenAI streams them.
    ...calls.flatMap((call, index) => [
      delta({ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }),
      ...piecesOf(call.arguments).map((piece) => delta({ index, function: { arguments: piece } })),
    ]),
    chunk([{ index: 0, delta: {}, logprobs: null, finish_reason: 'tool_calls' }]),
    ...(includeUsage ? [chunk([], { usage })] : []),
    { text: 'data: [DONE]\n\n', delayMs: 0 },
  ];
  return ctx.stream(frames, 'text/event-stream; charset=utf-8', headers);
}
