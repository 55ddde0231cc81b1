// Which models take images. No provider API says so reliably (OpenAI's and Anthropic's model lists
// carry no capabilities, Ollama's /api/show does but costs a call per model), so it is
// configuration: a list of glob patterns per provider (OPENAI_VISION_MODELS, ANTHROPIC_VISION_MODELS,
// OLLAMA_VISION_MODELS), with defaults naming the well-known vision families. Echo takes any image.

import { globToRegExp } from '../kv/glob.ts';
import { ollamaModelName } from './ollama.ts';
import type { ProviderName } from './types.ts';

/** Glob patterns (`*` any characters, `?` one, `[…]` a set; case-insensitive) of the models that take images, per provider. */
export type VisionModels = { openai: readonly string[]; anthropic: readonly string[]; ollama: readonly string[] };

/**
 * `supportsImages(provider, model)`: whether `model` of `provider` matches one of its patterns
 * (always true for echo). An Ollama model is matched with and without its default `:latest` tag,
 * so `llava` and `llava:latest` are the same model, as for Ollama itself.
 */
export function createVisionCheck(lists: VisionModels): (provider: ProviderName, model: string) => boolean {
  const compile = (patterns: readonly string[]) => patterns.map((pattern) => new RegExp(globToRegExp(pattern).source, 'is'));
  const patterns = { openai: compile(lists.openai), anthropic: compile(lists.anthropic), ollama: compile(lists.ollama) };
  return (provider, model) => {
    if (provider === 'echo') return true;
    const names = provider === 'ollama' ? [model, ollamaModelName(model), model.replace(/:latest$/, '')] : [model];
    return patterns[provider].some((pattern) => names.some((name) => pattern.test(name)));
  };
}
