// More than one choice (`n` > 1) on /v1/chat/completions: n replies of the same request, each a
// reply of its own (admitted, limited and billed like one: a provider's own `n` counts the prompt
// once, Parley counts it n times), answered as one completion whose choices are theirs, in order:
// one chat.completion, or one stream of chunks whose `index` names the choice.
import type { SseItem } from '../../http/sse.ts';
import type { GenerationResult, StartedGeneration } from '../replies/service.ts';
import { completionChunks, completionOf, createdOf, usageOf } from './stream.ts';

/** Most choices one request may ask for (OpenAI takes up to 128): each is a reply of its own. */
export const maxChoices = 8;

const encoder = new TextEncoder();

/**
 * Starts `n` replies one after another, each admitted by the limits as one call; when one cannot
 * start, those already started are cancelled and its refusal is thrown.
 */
export async function startChoices(
  n: number,
  start: () => Promise<StartedGeneration>,
  cancel: (messageId: string) => Promise<void>,
): Promise<StartedGeneration[]> {
  const started: StartedGeneration[] = [];
  try {
    for (let i = 0; i < n; i++) started.push(await start());
    return started;
  } catch (error) {
    await Promise.allSettled(started.map((reply) => cancel(reply.messageId)));
    throw error;
  }
}

/** The finished replies as one chat.completion: the first reply's id, time and model, each reply a choice, usage summed. */
export function completionOfChoices(started: readonly StartedGeneration[], results: readonly GenerationResult[]) {
  const completions = results.map((result, i) => completionOf(started[i]!.streamId, result));
  const first = completions[0]!;
  const inputTokens = results.reduce((sum, result) => sum + result.usage.inputTokens, 0);
  const outputTokens = results.reduce((sum, result) => sum + result.usage.outputTokens, 0);
  return {
    ...first,
    choices: completions.map((completion, index) => ({ ...completion.choices[0]!, index })),
    usage: usageOf({ inputTokens, outputTokens }),
  };
}

/**
 * The replies' streams as one chunk stream (for RepliesService.sseOfMany): each reply's chunks with
 * its index, under the first reply's id; once all have ended, the usage chunk (summed, when
 * `include_usage` asked for it) and `data: [DONE]`.
 */
export function choiceChunks(started: readonly StartedGeneration[], requested: { model: string; includeUsage: boolean }) {
  const streamId = started[0]!.streamId;
  const writers = started.map((_, index) =>
    completionChunks(streamId, { model: requested.model, includeUsage: false }, { index, last: false }),
  );
  let model = requested.model;
  const usage = { inputTokens: 0, outputTokens: 0 };
  return {
    format(index: number, item: SseItem): Uint8Array {
      if (!('ping' in item) && (item.event === 'start' || item.event === 'done')) {
        const data = JSON.parse(item.data);
        if (item.event === 'start' && index === 0) model = `${data.provider}/${data.model}`;
        if (item.event === 'done') {
          usage.inputTokens += data.usage.inputTokens;
          usage.outputTokens += data.usage.outputTokens;
        }
      }
      return writers[index]!(item);
    },
    end(): Uint8Array {
      const usageLine = requested.includeUsage
        ? `data: ${JSON.stringify({ id: `chatcmpl-${streamId}`, object: 'chat.completion.chunk', created: createdOf(streamId), model, choices: [], usage: usageOf(usage) })}\n\n`
        : '';
      return encoder.encode(`${usageLine}data: [DONE]\n\n`);
    },
  };
}
