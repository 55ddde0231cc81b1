// What every Vercel AI SDK provider must do against Parley, whichever API it speaks (Chat
// Completions, the Responses API, Anthropic's Messages): a tool round the loop with generateText
// and with streamText, and structured output. Each suite registers them for its provider with
// `toolAndOutputScenarios`, beside the tests of what only its API does.
import { expect, test } from 'bun:test';
import { generateText, type LanguageModel, Output, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import { expectedReply } from '../fakes/llm-upstream.ts';

/** The tool the scenarios offer (the fake upstream's `fake-tool-call` models call it with `{city: "city-value"}`). */
export const weather = tool({
  description: 'The weather in a city',
  inputSchema: z.object({ city: z.string() }),
  execute: async ({ city }) => ({ forecast: `sunny in ${city}` }),
});

const answerAfterTool = expectedReply('tool result: {"forecast":"sunny in city-value"}');

/**
 * Registers, in the calling describe, the scenarios for `model` (a Parley model id as the provider
 * takes it): generateText round the tool loop through each of `toolUpstreams` (`openai`,
 * `anthropic`), streamText with a tool through `streamUpstream`, Output.object through `jsonUpstream`.
 */
export function toolAndOutputScenarios(
  model: (id: string) => LanguageModel,
  { toolUpstreams, streamUpstream, jsonUpstream }: { toolUpstreams: string[]; streamUpstream: string; jsonUpstream: string },
): void {
  for (const provider of toolUpstreams) {
    test(`happy: generateText with a tool goes round the loop: call, result, answer (${provider} upstream)`, async () => {
      const result = await generateText({
        model: model(`${provider}/fake-tool-call`),
        prompt: 'weather in Paris?',
        tools: { get_weather: weather },
        stopWhen: stepCountIs(3),
      });
      expect(result.steps.length).toBe(2);
      expect(result.steps[0]!.toolCalls.map((call) => [call.toolName, call.input])).toEqual([['get_weather', { city: 'city-value' }]]);
      expect(result.steps[0]!.finishReason).toBe('tool-calls');
      expect(result.text).toBe(answerAfterTool);
    });
  }

  test(`happy: streamText with a tool streams the call and the answer (${streamUpstream} upstream)`, async () => {
    const result = streamText({
      model: model(`${streamUpstream}/fake-tool-call`),
      prompt: 'weather?',
      tools: { get_weather: weather },
      stopWhen: stepCountIs(3),
    });
    const parts: string[] = [];
    for await (const part of result.fullStream) if (part.type === 'tool-call' || part.type === 'tool-result') parts.push(part.type);
    expect(parts).toEqual(['tool-call', 'tool-result']);
    expect(await result.text).toBe(answerAfterTool);
  });

  test(`happy: structured output (Output.object) parses the model’s JSON (${jsonUpstream} upstream)`, async () => {
    const result = await generateText({
      model: model(`${jsonUpstream}/fake-json`),
      prompt: 'weather as JSON',
      output: Output.object({ schema: z.object({ city: z.string(), celsius: z.number() }) }),
    });
    expect(result.output).toEqual({ city: 'city-value', celsius: 1 });
  });
}
