// The built-in provider: needs no key or network, repeats the user's last message word by word.
// Useful for demos, tests and as the fallback of last resort; it ignores tools. It takes any image and says what it
// got in its place (describeImage), so a test sees what reached the provider layer.

import { base64ByteLength, isBase64Image } from './content.ts';
import { modelInfos, sleep } from './shared.ts';
import type { GenerationEvent, GenerationRequest, ImagePart, LlmProvider, MessageContent } from './types.ts';

export type EchoProviderOptions = { delayMs: number };

export const ECHO_MODELS = ['echo'] as const;

/** Word chunks that keep their whitespace, so joining them gives back the text exactly. */
export function splitWords(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text ? [text] : []);
}

/** An image as echo repeats it: `[image image/png 1234 bytes]` (decoded size), or `[image <url>]`. */
export function describeImage(part: ImagePart): string {
  return isBase64Image(part) ? `[image ${part.mediaType} ${base64ByteLength(part.data)} bytes]` : `[image ${part.url}]`;
}

/** A turn as echo repeats it: a string as it is; parts in order, text as it is and images described, joined by a space. */
export function echoText(content: MessageContent): string {
  if (typeof content === 'string') return content;
  return content.map((part) => (part.type === 'text' ? part.text : describeImage(part))).join(' ');
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

export function createEchoProvider(options: EchoProviderOptions): LlmProvider {
  async function* stream(request: GenerationRequest): AsyncGenerator<GenerationEvent> {
    const { signal } = request;
    const lastTurn = request.messages.findLast((m) => m.role === 'user');
    // A prompt that is only a system message (the OpenAI-compatible API takes one) is echoed itself.
    const lastUser = lastTurn ? echoText(lastTurn.content) : (request.system ?? '');
    const words = splitWords(lastUser);
    for (const [i, word] of words.entries()) {
      if (i > 0 && options.delayMs > 0) await sleep(options.delayMs, signal);
      if (signal.aborted) return; // like the SDK providers: an aborted stream just stops
      yield { type: 'delta', text: word };
    }
    if (signal.aborted) return;
    const input = [request.system ?? '', ...request.messages.map((m) => echoText(m.content))].join(' ');
    yield { type: 'done', finishReason: 'stop', usage: { inputTokens: countWords(input), outputTokens: countWords(lastUser) } };
  }

  return {
    name: 'echo',
    listModels: async () => modelInfos('echo', ECHO_MODELS),
    stream,
  };
}
