// The built-in provider: needs no key or network, repeats the user's last message word by word.
// Useful for demos, tests and as the fallback of last resort.

import { modelInfos, sleep } from './shared.ts';
import type { GenerationEvent, GenerationRequest, LlmProvider } from './types.ts';

export type EchoProviderOptions = { delayMs: number };

export const ECHO_MODELS = ['echo'] as const;

/** Word chunks that keep their whitespace, so joining them gives back the text exactly. */
export function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export function createEchoProvider(options: EchoProviderOptions): LlmProvider {
  async function* stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const { signal } = request;
    const lastUser = request.messages.findLast((m) => m.role === 'user')?.content ?? '';
    const words = splitWords(lastUser);
    for (const [i, word] of words.entries()) {
      if (i > 0 && options.delayMs > 0) await sleep(options.delayMs, signal);
      if (signal.aborted) return; // like the SDK providers: an aborted stream just stops
      yield { type: 'delta', text: word };
    }
    if (signal.aborted) return;
    const input = [request.system ?? '', ...request.messages.map((m) => m.content)].join(' ');
    yield { type: 'done', finishReason: 'stop', usage: { inputTokens: countWords(input), outputTokens: countWords(lastUser) } };
  }

  return {
    name: 'echo',
    listModels: async () => modelInfos('echo', ECHO_MODELS),
    stream,
  };
}
