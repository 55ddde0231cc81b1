// A reply as Anthropic's Messages API answers it: its stream events (message_start …
// message_stop) or one Message object. Both are built from the reply's own events and result, so
// a replay (Idempotency-Key) says exactly what the first response said.
import type { SseItem } from '../../http/sse.ts';
import type { GenerationResult } from '../replies/service.ts';

const encoder = new TextEncoder();

/** The Message id of a reply: `msg_` and its stream id's hex, so a replay says the same id. */
export const messageIdOf = (streamId: string) => `msg_${streamId.replaceAll('-', '')}`;

/** The provider layer's finish reason (OpenAI's words) as Anthropic's stop_reason. */
const STOP_REASONS: Record<string, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  tool_calls: 'tool_use',
  content_filter: 'refusal',
};
/** Anthropic's stop_reason and stop_sequence for a reply's end: `stop_sequence` when the provider said which one ended it. */
export const stopOf = (finishReason: string, stopSequence: string | undefined) =>
  stopSequence !== undefined
    ? { stop_reason: 'stop_sequence', stop_sequence: stopSequence }
    : { stop_reason: STOP_REASONS[finishReason] ?? 'end_turn', stop_sequence: null };

/** A tool call's JSON arguments as a tool_use block's `input` object (a model's broken JSON as `{}`). */
export function inputOf(argumentsText: string): Record<string, unknown> {
  try {
    const input: unknown = JSON.parse(argumentsText || '{}');
    return input !== null && typeof input === 'object' && !Array.isArray(input) ? (input as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const usageOf = (usage: { inputTokens: number; outputTokens: number }) => ({
  input_tokens: usage.inputTokens,
  output_tokens: usage.outputTokens,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: 0,
});

/**
 * A reply's stream as Anthropic's events, each `event: <type>` with the same `type` in its data:
 * message_start (usage.input_tokens estimated: the provider says the real count at the end, in
 * message_delta), then per content block content_block_start, its deltas (text_delta,
 * thinking_delta when `thinking` is asked for, one input_json_delta per tool call) and
 * content_block_stop, a ping after the first block starts (and while quiet), then message_delta
 * (stop_reason, usage) and message_stop. A failure after the stream began is an in-band `error`
 * event, as Anthropic sends one.
 */
export function messageEvents(
  streamId: string,
  requested: { model: string; estimatedInputTokens: number; thinking: boolean },
): (item: SseItem) => Uint8Array {
  let model = requested.model;
  let index = -1;
  let open: 'text' | 'thinking' | undefined;
  let pinged = false;
  const event = (data: { type: string } & Record<string, unknown>) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;
  const close = () => {
    if (!open) return '';
    open = undefined;
    return event({ type: 'content_block_stop', index });
  };
  /** Starts a block (closing the one open); the first start is followed by a ping, as Anthropic sends one. */
  const start = (block: Record<string, unknown>) => {
    const text = close() + event({ type: 'content_block_start', index: ++index, content_block: block });
    if (pinged) return text;
    pinged = true;
    return text + event({ type: 'ping' });
  };
  const bytes = (text: string) => encoder.encode(text);
  return (item) => {
    if ('ping' in item) return bytes(event({ type: 'ping' }));
    const data = JSON.parse(item.data);
    switch (item.event) {
      case 'start':
        model = `${data.provider}/${data.model}`;
        return bytes(
          event({
            type: 'message_start',
            message: {
              id: messageIdOf(streamId),
              type: 'message',
              role: 'assistant',
              model,
              content: [],
              stop_reason: null,
              stop_sequence: null,
              usage: usageOf({ inputTokens: requested.estimatedInputTokens, outputTokens: 0 }),
            },
          }),
        );
      case 'delta': {
        const opening = open === 'text' ? '' : start({ type: 'text', text: '' });
        open = 'text';
        return bytes(opening + event({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: data.text } }));
      }
      case 'reasoning': {
        if (!requested.thinking) return new Uint8Array();
        const opening = open === 'thinking' ? '' : start({ type: 'thinking', thinking: '', signature: '' });
        open = 'thinking';
        return bytes(opening + event({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: data.text } }));
      }
      case 'tool_call': {
        // Each call arrives whole: its block starts, carries its arguments in one piece, and stops.
        const opening = start({ type: 'tool_use', id: data.id, name: data.name, input: {} });
        return bytes(
          opening +
            event({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: data.arguments || '{}' } }) +
            event({ type: 'content_block_stop', index }),
        );
      }
      case 'error':
        return bytes(close() + event({ type: 'error', error: { type: 'api_error', message: data.message } }));
      case 'done':
        return bytes(
          close() +
            (pinged ? '' : event({ type: 'ping' })) +
            event({
              type: 'message_delta',
              delta: stopOf(data.finishReason, data.stopSequence),
              usage: usageOf(data.usage),
            }) +
            event({ type: 'message_stop' }),
        );
      default:
        return new Uint8Array(); // logprobs have no place in Anthropic's stream
    }
  };
}

/** A finished reply as Anthropic's Message: thinking (when asked for), text, then the tool calls as tool_use blocks. */
export function messageOf(streamId: string, result: GenerationResult, options: { thinking: boolean }) {
  const content = [
    ...(options.thinking && result.reasoning ? [{ type: 'thinking' as const, thinking: result.reasoning, signature: '' }] : []),
    ...(result.text || result.toolCalls.length === 0 ? [{ type: 'text' as const, text: result.text }] : []),
    ...result.toolCalls.map((call) => ({ type: 'tool_use' as const, id: call.id, name: call.name, input: inputOf(call.arguments) })),
  ];
  return {
    id: messageIdOf(streamId),
    type: 'message' as const,
    role: 'assistant' as const,
    model: `${result.provider}/${result.model}`,
    content,
    ...stopOf(result.finishReason, result.stopSequence),
    usage: usageOf(result.usage),
  };
}
