// Which models an API key's allow-list lets through (src/modules/replies/key-limits.ts): the
// patterns its owner stored, matched against the resolved `provider/model`.
import { describe, expect, test } from 'bun:test';
import type { ApiKeyGrant } from '../../src/http/auth.ts';
import { keyAllowsModel } from '../../src/modules/replies/key-limits.ts';

const grant = (allowedModels: string[] | null): ApiKeyGrant => ({
  id: 'k',
  allowedModels,
  requestsPerMinute: null,
  tokensPerMinute: null,
  monthlyTokenBudget: null,
});

describe('keyAllowsModel', () => {
  test('happy: no key, or a key without a list, allows every model', () => {
    expect(keyAllowsModel(null, 'openai', 'gpt-5.5')).toBe(true);
    expect(keyAllowsModel(undefined, 'anthropic', 'claude-opus-5-5')).toBe(true);
    expect(keyAllowsModel(grant(null), 'echo', 'echo')).toBe(true);
    expect(keyAllowsModel(grant(['*']), 'ollama', 'llama3')).toBe(true);
  });

  test.each([
    [['openai/gpt-5.5'], 'openai', 'gpt-5.5', true],
    [['openai/gpt-5.5'], 'openai', 'gpt-5.5-pro', false],
    [['openai/gpt-5*'], 'openai', 'gpt-5.4-mini', true],
    [['openai/gpt-5*'], 'anthropic', 'gpt-5', false],
    [['OpenAI/GPT-5*'], 'openai', 'gpt-5.5', true],
    [['anthropic/claude-*-5-5'], 'anthropic', 'claude-sonnet-5-5', true],
    [['anthropic/claude-*-5-5'], 'anthropic', 'claude-sonnet-4-5', false],
    // `*` crosses `/`: models of an OpenAI-compatible router have slashes of their own.
    [['openai/*'], 'openai', 'meta-llama/llama-4', true],
    [['*/echo'], 'echo', 'echo', true],
    [['openai/gpt-?.5'], 'openai', 'gpt-5.5', true],
    [['openai/gpt-[45]*'], 'openai', 'gpt-6-luna', false],
    // An Ollama model with or without its default tag.
    [['ollama/llama3'], 'ollama', 'llama3:latest', true],
    [['ollama/llama3:latest'], 'ollama', 'llama3', true],
    [['ollama/llama3'], 'ollama', 'llama3:8b', false],
    // A pattern's regex characters are literal.
    [['openai/gpt.5'], 'openai', 'gpt-5', false],
    [['echo/echo', 'openai/gpt-4.1'], 'openai', 'gpt-4.1', true],
  ] as const)('%j: %s/%s → %p', (patterns, provider, model, allowed) => {
    expect(keyAllowsModel(grant([...patterns]), provider, model)).toBe(allowed);
  });

  test('error: an empty list allows nothing', () => {
    expect(keyAllowsModel(grant([]), 'echo', 'echo')).toBe(false);
  });
});
