// Shared helpers for the LLM provider tests.

import type { GenerationEvent, GenerationRequest, ResilientEvent, ToolCall } from '../../src/infra/llm/types.ts';
import { createLogger, type Logger } from '../../src/infra/log/index.ts';
import type { RecordedRequest } from '../fakes/llm-upstream.ts';

/** Collects what was logged, so tests can check (and stay quiet). */
export function memoryLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { log: createLogger('debug', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)), lines };
}

export const silentLog = createLogger('silent');

export type Collected = {
  events: (GenerationEvent | ResilientEvent)[];
  text: string;
  deltas: string[];
  /** The concatenated reasoning events (the model's thinking, apart from `text`). */
  reasoning: string;
  /** The tool calls, in order. */
  toolCalls: ToolCall[];
  done: Extract<GenerationEvent, { type: 'done' }> | undefined;
  attempts: string[];
  error: unknown;
  ms: number;
};

/** Drains a stream; `onEvent` may abort along the way. Never throws: the error is returned. */
export async function collect(
  stream: AsyncIterable<GenerationEvent | ResilientEvent>,
  onEvent?: (event: GenerationEvent | ResilientEvent, index: number) => void,
): Promise<Collected> {
  const out: Collected = {
    events: [],
    text: '',
    deltas: [],
    reasoning: '',
    toolCalls: [],
    done: undefined,
    attempts: [],
    error: undefined,
    ms: 0,
  };
  const t0 = performance.now();
  try {
    for await (const event of stream) {
      out.events.push(event);
      if (event.type === 'delta') {
        out.text += event.text;
        out.deltas.push(event.text);
      } else if (event.type === 'reasoning') out.reasoning += event.text;
      else if (event.type === 'done') out.done = event;
      else if (event.type === 'tool_call') out.toolCalls.push(event.call);
      else if (event.type === 'attempt') out.attempts.push(`${event.provider}:${event.model}`);
      onEvent?.(event, out.events.length - 1);
    }
  } catch (e) {
    out.error = e;
  }
  out.ms = performance.now() - t0;
  return out;
}

export function request(model: string, text: string, extra: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    model,
    messages: [{ role: 'user', content: text }],
    maxTokens: 64,
    temperature: 0.3,
    signal: new AbortController().signal,
    ...extra,
  };
}

export async function waitFor(pred: () => boolean, timeoutMs = 1000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await Bun.sleep(5);
  }
}

/** A base URL where nothing listens (a server that was started and stopped). */
export async function closedPortUrl(): Promise<string> {
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: () => new Response('') });
  const url = `http://127.0.0.1:${server.port}`;
  await server.stop(true);
  return url;
}

export const generationRequests = (requests: RecordedRequest[]) =>
  requests.filter((r) => r.path === '/v1/chat/completions' || r.path === '/v1/messages');

export const bodyOf = (r: RecordedRequest | undefined) => (r?.body ?? {}) as Record<string, unknown>;
