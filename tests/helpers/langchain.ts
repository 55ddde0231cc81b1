// What every LangChain chat model must do against Parley, whichever API it speaks (ChatOpenAI on
// Chat Completions or the Responses API, ChatAnthropic on Messages): bindTools round a tool call
// and back, invoked and streamed. Each suite registers them with `toolScenarios`.
import { expect, test } from 'bun:test';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { type AIMessageChunk, HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { expectedReply } from '../fakes/llm-upstream.ts';

/** The tool the scenarios bind (the fake upstream's `fake-tool-call` models call it with `{city: "city-value"}`). */
export const getWeather = tool(async ({ city }: { city: string }) => `sunny in ${city}`, {
  name: 'get_weather',
  description: 'The weather in a city',
  schema: z.object({ city: z.string() }),
});

/**
 * Registers, in the calling describe, for `chat` (a chat model for a Parley model id): a tool round
 * trip with bindTools through each of `roundTripUpstreams` (`openai`, `anthropic`), and a streamed
 * call put together through `streamUpstream`.
 */
export function toolScenarios(
  chat: (model: string) => BaseChatModel,
  { roundTripUpstreams, streamUpstream }: { roundTripUpstreams: string[]; streamUpstream: string },
): void {
  const bound = (model: string) => chat(model).bindTools!([getWeather]);
  for (const provider of roundTripUpstreams) {
    test(`happy: bindTools gets tool calls, and the tool result sent back gets the answer (${provider} upstream)`, async () => {
      const model = bound(`${provider}/fake-tool-call`);
      const question = new HumanMessage('weather in Paris?');
      const first = await model.invoke([question]);
      expect(first.tool_calls?.map((call) => [call.name, call.args])).toEqual([['get_weather', { city: 'city-value' }]]);
      const result = await getWeather.invoke(first.tool_calls![0]!);
      expect(result).toBeInstanceOf(ToolMessage);
      const second = await model.invoke([question, first, result]);
      expect(second.text).toBe(expectedReply('tool result: sunny in city-value'));
    });
  }

  test(`happy: bindTools streamed puts the tool call together (${streamUpstream} upstream)`, async () => {
    let gathered: AIMessageChunk | undefined;
    for await (const chunk of await bound(`${streamUpstream}/fake-tool-call`).stream('weather?')) {
      gathered = gathered ? gathered.concat(chunk) : chunk;
    }
    expect(gathered?.tool_calls?.map((call) => [call.name, call.args])).toEqual([['get_weather', { city: 'city-value' }]]);
  });
}
