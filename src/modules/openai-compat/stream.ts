// A reply as OpenAI's Chat Completions answers it: chat.completion.chunk lines (streamed) or one
// chat.completion object. Both are built from the reply's own events and result, so a replay
// (Idempotency-Key) says exactly what the first response said.
import type { SseItem } from '../../http/sse.ts';
import type { TokenLogprob } from '../../infra/llm/index.ts';
import type { GenerationResult } from '../replies/service.ts';

const encoder = new TextEncoder();

/** Seconds since the epoch when the reply's stream was made (its id is a UUIDv7), so a replay says the same `created`. */
export function createdOf(streamId: string): number {
  const ms = Number.parseInt(streamId.replaceAll('-', '').slice(0, 12), 16);
  return Math.floor((Number.isFinite(ms) ? ms : Date.now()) / 1000);
}

/** Log probabilities as OpenAI writes them (`top_logprobs`), from the provider layer's TokenLogprob. */
const logprobsOf = (content: TokenLogprob[]) => ({
  content: content.map((entry) => ({ token: entry.token, logprob: entry.logprob, bytes: entry.bytes, top_logprobs: entry.topLogprobs })),
  refusal: null,
});

export const usageOf = (usage: { inputTokens: number; outputTokens: number }) => ({
  prompt_tokens: usage.inputTokens,
  completion_tokens: usage.outputTokens,
  total_tokens: usage.inputTokens + usage.outputTokens,
});

/**
 * A reply's stream as OpenAI's chat.completion.chunk lines: a role chunk, content (and
 * `reasoning_content`, as DeepSeek and vLLM stream thinking) chunks, each tool call whole as one
 * `delta.tool_calls` chunk, log probabilities (when asked for) in chunks of their own, the finish chunk, a usage chunk when `include_usage` asked for it,
 * then `data: [DONE]`. A failure after the first token is an in-band `{error}` line, as OpenAI
 * sends one; the same bytes for the first response and for a replay.
 */
export function completionChunks(
  streamId: string,
  requested: { model: string; includeUsage: boolean },
  /** For one of several choices (n > 1, see choices.ts): its index, and its `done` writes only its finish chunk. */
  choice: { index: number; last: boolean } = { index: 0, last: true },
): (item: SseItem) => Uint8Array {
  const id = `chatcmpl-${streamId}`;
  const created = createdOf(streamId);
  let model = requested.model;
  const line = (data: object) => encoder.encode(`data: ${JSON.stringify(data)}\n\n`);
  const chunk = (delta: object, finishReason: string | null, logprobs: object | null = null) =>
    line({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: choice.index, delta, logprobs, finish_reason: finishReason }],
    });
  return (item) => {
    if ('ping' in item) return encoder.encode(': ping\n\n');
    const data = JSON.parse(item.data);
    switch (item.event) {
      case 'start':
        model = `${data.provider}/${data.model}`;
        return chunk({ role: 'assistant', content: '' }, null);
      case 'delta':
        return chunk({ content: data.text }, null);
      case 'logprobs':
        // After the text they belong to, in a chunk of their own (OpenAI's clients append them).
        return chunk({}, null, logprobsOf(data.content));
      case 'reasoning':
        return chunk({ reasoning_content: data.text }, null);
      case 'tool_call':
        return chunk(
          { tool_calls: [{ index: data.index, id: data.id, type: 'function', function: { name: data.name, arguments: data.arguments } }] },
          null,
        );
      case 'error':
        return line({ error: { message: data.message, type: 'server_error', param: null, code: data.code } });
      case 'done': {
        if (!choice.last) return chunk({}, data.finishReason);
        const usage = requested.includeUsage
          ? line({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usageOf(data.usage) })
          : new Uint8Array();
        return Buffer.concat([chunk({}, data.finishReason), usage, encoder.encode('data: [DONE]\n\n')]);
      }
      default:
        return new Uint8Array(); // nothing else has a place in OpenAI's stream
    }
  };
}

/** A finished reply as OpenAI's chat.completion: `content` null when the model only called tools. */
export function completionOf(streamId: string, result: GenerationResult) {
  const toolCalls = result.toolCalls.map((call) => ({
    id: call.id,
    type: 'function' as const,
    function: { name: call.name, arguments: call.arguments },
  }));
  return {
    id: `chatcmpl-${streamId}`,
    object: 'chat.completion' as const,
    created: createdOf(streamId),
    model: `${result.provider}/${result.model}`,
    choices: [
      {
        index: 0,
        // The model's thinking as DeepSeek and vLLM return it, beside (never inside) the content.
        message: {
          role: 'assistant' as const,
          content: result.text || toolCalls.length === 0 ? result.text : null,
          refusal: null,
          ...(toolCalls.length ? { tool_calls: toolCalls } : {}),
          ...(result.reasoning ? { reasoning_content: result.reasoning } : {}),
        },
        logprobs: result.logprobs ? logprobsOf(result.logprobs) : null,
        finish_reason: result.finishReason,
      },
    ],
    usage: usageOf(result.usage),
  };
}
