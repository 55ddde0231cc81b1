// What a running reply writes: its text, thinking and tool calls, appended to its stream buffer
// (text and thinking also flushed to its message row in batches). Every chunk from the provider is normalised once (text.ts)
// before it goes anywhere, and `text`/`reasoning` grow only by what the stream buffer accepted:
// what readers were sent is what is flushed and stored, so the concatenated deltas equal the
// stored message.
import type { TokenLogprob, ToolCall } from '../../infra/llm/types.ts';
import type { Logger } from '../../infra/log/index.ts';
import { createTextNormalizer } from './text.ts';

/**
 * What a reply's stream carries besides start/done/error: `delta` and `reasoning` {text},
 * `tool_call` {index, id, name, arguments}, and `logprobs` {content: TokenLogprob[]} (only when asked for).
 */
export type WrittenEvent =
  | { event: 'delta' | 'reasoning'; text: string }
  | { event: 'tool_call'; index: number; call: ToolCall }
  | { event: 'logprobs'; content: TokenLogprob[] };

/** The payload of a written event in the stream buffer. */
export const eventData = (item: WrittenEvent): Record<string, unknown> =>
  item.event === 'tool_call'
    ? { index: item.index, ...item.call }
    : item.event === 'logprobs'
      ? { content: item.content }
      : { text: item.text };

export type ReplyWriterDeps = {
  /** Appends one event to the reply's stream buffer. */
  append: (item: WrittenEvent) => Promise<unknown>;
  /** Writes the text so far to the message row; false when the row is no longer `streaming`. Absent for a reply with no chat. */
  flushRow?: (text: string, reasoning: string | null) => Promise<boolean>;
  /** Stops the generation (its upstream call): the buffer failed, or the row was settled elsewhere. */
  stop: () => void;
  log: Logger;
};

/**
 * `push(kind, chunk)` as chunks arrive, `flush()` on a timer, `close()` once the model is done.
 * Deltas (and reasoning) are appended one at a time; text that arrives while an append is in
 * flight is coalesced into the next event of its kind, in arrival order. Under a burst this sends
 * fewer, larger events (the same concatenated text) instead of queueing one KV round trip per
 * token, and yielding to the event loop between appends lets readers write what they have.
 */
export function createReplyWriter({ append, flushRow, stop, log }: ReplyWriterDeps) {
  const normalizers = { delta: createTextNormalizer(), reasoning: createTextNormalizer() };
  let text = '';
  // The model's thinking: relayed as `reasoning` events and stored apart, never mixed into `text`.
  let reasoning = '';
  // Tool calls the buffer accepted, in order (a chat's reply stores them on its message).
  const toolCalls: ToolCall[] = [];
  // Log probabilities the buffer accepted, in order (only when the request asked for them).
  let logprobs: TokenLogprob[] | null = null;
  let flushed = 0;
  let flushedReasoning = 0;
  // Another instance settled the message (this producer was taken for dead), or it is gone.
  let superseded = false;
  let appendFailure: unknown;

  const pending: WrittenEvent[] = [];
  let appending: Promise<void> | undefined;
  const drain = async () => {
    try {
      for (let next = pending.shift(); next; next = pending.shift()) {
        await append(next);
        if (next.event === 'tool_call') toolCalls.push(next.call);
        else if (next.event === 'logprobs') (logprobs ??= []).push(...next.content);
        else if (next.event === 'delta') text += next.text;
        else reasoning += next.text;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (error) {
      appendFailure = error;
      stop();
    } finally {
      appending = undefined;
    }
  };
  const queue = (event: 'delta' | 'reasoning', chunk: string) => {
    if (!chunk) return;
    const last = pending.at(-1);
    if (last && (last.event === 'delta' || last.event === 'reasoning') && last.event === event) last.text += chunk;
    else pending.push({ event, text: chunk });
    appending ??= drain();
  };
  /** A tool call goes as its own event, after the text before it (never coalesced). */
  const queueToolCall = (index: number, call: ToolCall) => {
    pending.push({ event: 'tool_call', index, call });
    appending ??= drain();
  };

  // Flushes run one after another, and the final write waits for the last of them: on a
  // connection pool, a slower partial write could otherwise land after the final one.
  let flushing: Promise<void> = Promise.resolve();
  const flush = () =>
    (flushing = flushing
      .catch(() => undefined)
      .then(async () => {
        if (!flushRow || (flushed === text.length && flushedReasoning === reasoning.length)) return;
        flushed = text.length;
        flushedReasoning = reasoning.length;
        if (await flushRow(text, reasoning || null)) return;
        // No longer streaming: settled by a sweeper or a cancel elsewhere, or its chat deleted.
        // Nobody will read what this producer makes now; stop paying for it.
        superseded = true;
        log.warn('reply settled elsewhere: stopping its generation');
        stop();
      }));

  return {
    /** Normalises a provider chunk and queues it for the buffer. */
    push: (event: 'delta' | 'reasoning', chunk: string) => queue(event, normalizers[event].push(chunk)),
    /** Queues the log probabilities of the text pushed just before (their own event, never coalesced). */
    pushLogprobs(content: TokenLogprob[]) {
      pending.push({ event: 'logprobs', content });
      appending ??= drain();
    },
    /** Queues a whole tool call; the text normalised so far goes first, so the order is the model's. */
    pushToolCall(index: number, call: ToolCall) {
      queue('reasoning', normalizers.reasoning.end());
      queue('delta', normalizers.delta.end());
      queueToolCall(index, call);
    },
    flush,
    /** The buffer refused a write outside the queue (the start event): stop, as for a failed append. */
    failed(error: unknown) {
      appendFailure = error;
      stop();
    },
    /** Ends the normalisers (a high surrogate left waiting becomes U+FFFD), then waits for every append and flush. */
    async close() {
      queue('reasoning', normalizers.reasoning.end());
      queue('delta', normalizers.delta.end());
      while (appending) await appending;
      await flushing.catch(() => undefined);
    },
    get text() {
      return text;
    },
    get reasoning() {
      return reasoning;
    },
    get toolCalls(): readonly ToolCall[] {
      return toolCalls;
    },
    /** null when the reply carried none. */
    get logprobs(): readonly TokenLogprob[] | null {
      return logprobs;
    },
    get superseded() {
      return superseded;
    },
    get appendFailure() {
      return appendFailure;
    },
  };
}
