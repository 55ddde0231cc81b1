// createProviders: which providers exist, how a request picks provider and model, model listing.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { type Env, parseConfig } from '../../src/config/index.ts';
import { createProviders, type Providers, UnknownModelError } from '../../src/infra/llm/index.ts';
import { type FakeUpstream, startFakeUpstream } from '../fakes/llm-upstream.ts';
import { closedPortUrl, collect, memoryLog, request, silentLog } from './helpers.ts';

let fake: FakeUpstream;
beforeAll(async () => {
  fake = await startFakeUpstream();
});
afterEach(() => fake.reset());
afterAll(() => fake.stop());

const config = (env: Env) => parseConfig({ JWT_SECRET: 'x'.repeat(40), ...env });

const allThree = (): Env => ({
  OPENAI_API_KEY: 'k',
  OPENAI_BASE_URL: fake.openaiBaseURL,
  ANTHROPIC_API_KEY: 'k',
  ANTHROPIC_BASE_URL: fake.anthropicBaseURL,
  OLLAMA_BASE_URL: fake.ollamaBaseURL,
  OPENAI_MODELS: 'gpt-a,gpt-b',
  ANTHROPIC_MODELS: 'claude-a',
  OLLAMA_MODELS: 'llama3.2',
});

describe('createProviders', () => {
  test('echo alone when nothing is configured; every configured one otherwise', () => {
    expect([...createProviders(config({}), silentLog).providers.keys()]).toEqual(['echo']);
    expect([...createProviders(config(allThree()), silentLog).providers.keys()]).toEqual(['openai', 'anthropic', 'ollama', 'echo']);
  });

  test('the built providers talk to the configured upstreams', async () => {
    const { providers } = createProviders(config(allThree()), silentLog);
    for (const [name, model] of [
      ['openai', 'gpt-a'],
      ['anthropic', 'claude-a'],
      ['ollama', 'llama3.2'],
      ['echo', 'echo'],
    ] as const) {
      const out = await collect(providers.get(name)!.stream(request(model, 'ping')));
      expect(out.text).toBe(name === 'echo' ? 'ping' : 'Fake reply to: ping');
    }
    expect(fake.requests.map((r) => r.path)).toEqual(['/v1/chat/completions', '/v1/messages', '/v1/chat/completions']);
  });
});

describe('resolve', () => {
  let resolve: Providers['resolve'];
  beforeAll(() => {
    ({ resolve } = createProviders(config({ ...allThree(), DEFAULT_PROVIDER: 'anthropic', DEFAULT_MODEL: 'claude-default' }), silentLog));
  });

  test('the request wins over the chat and the defaults', () => {
    expect(resolve('openai', 'gpt-x', { provider: 'ollama', model: 'm' })).toEqual({ provider: 'openai', model: 'gpt-x' });
  });

  test('a requested provider without a model takes its first configured model', () => {
    expect(resolve('openai')).toEqual({ provider: 'openai', model: 'gpt-a' });
    expect(resolve('echo')).toEqual({ provider: 'echo', model: 'echo' });
    expect(resolve('ollama')).toEqual({ provider: 'ollama', model: 'llama3.2' });
    // The chat's model belongs to another provider: not inherited.
    expect(resolve('openai', null, { provider: 'ollama', model: 'llama3.2' })).toEqual({ provider: 'openai', model: 'gpt-a' });
  });

  test('a requested provider inherits the chat model when it is the chat provider', () => {
    expect(resolve('ollama', undefined, { provider: 'ollama', model: 'qwen2.5:0.5b' })).toEqual({
      provider: 'ollama',
      model: 'qwen2.5:0.5b',
    });
  });

  test('a requested model alone stays with the chat provider, else the default', () => {
    expect(resolve(undefined, 'gpt-4.1', { provider: 'openai', model: 'gpt-a' })).toEqual({ provider: 'openai', model: 'gpt-4.1' });
    expect(resolve(null, 'claude-x')).toEqual({ provider: 'anthropic', model: 'claude-x' });
  });

  test('the chat wins over the defaults', () => {
    expect(resolve(undefined, undefined, { provider: 'openai', model: 'gpt-b' })).toEqual({ provider: 'openai', model: 'gpt-b' });
    expect(resolve(undefined, undefined, { provider: 'openai', model: null })).toEqual({ provider: 'openai', model: 'gpt-a' });
  });

  test('DEFAULT_PROVIDER and DEFAULT_MODEL last', () => {
    expect(resolve()).toEqual({ provider: 'anthropic', model: 'claude-default' });
    expect(resolve(undefined, undefined, { provider: null, model: null })).toEqual({ provider: 'anthropic', model: 'claude-default' });
    // A model-only chat belongs to the default provider.
    expect(resolve(undefined, undefined, { model: 'claude-chat' })).toEqual({ provider: 'anthropic', model: 'claude-chat' });
    // Without DEFAULT_MODEL, the default provider's first configured model.
    expect(createProviders(config(allThree()), silentLog).resolve()).toEqual({ provider: 'openai', model: 'gpt-a' });
  });

  test('unknown or unconfigured providers are UnknownModelError', () => {
    expect(() => resolve('mistral')).toThrow(UnknownModelError);
    const echoOnly = createProviders(config({}), silentLog);
    expect(echoOnly.resolve()).toEqual({ provider: 'echo', model: 'echo' });
    expect(() => echoOnly.resolve('openai', 'gpt-4o')).toThrow(UnknownModelError);
    expect(() => echoOnly.resolve(undefined, undefined, { provider: 'anthropic', model: 'claude' })).toThrow(UnknownModelError);
  });

  test('ollama without OLLAMA_MODELS: resolve throws, resolveAsync asks /api/tags', async () => {
    const p = createProviders(config({ OLLAMA_BASE_URL: fake.ollamaBaseURL }), silentLog);
    expect(() => p.resolve('ollama')).toThrow(UnknownModelError);
    expect(p.resolve('ollama', 'qwen2.5:0.5b')).toEqual({ provider: 'ollama', model: 'qwen2.5:0.5b' });
    expect(await p.resolveAsync('ollama')).toEqual({ provider: 'ollama', model: 'llama3.2:latest' });
    expect(await p.resolveAsync('echo')).toEqual({ provider: 'echo', model: 'echo' });
    await expect(p.resolveAsync('nope')).rejects.toBeInstanceOf(UnknownModelError);
  });
});

describe('listAllModels', () => {
  test('merges every provider', async () => {
    const models = await createProviders(config(allThree()), silentLog).listAllModels();
    const ids = (provider: string) => models.filter((m) => m.provider === provider).map((m) => m.id);
    expect(ids('openai')).toEqual(['gpt-4o-mini', 'gpt-4.1', 'o4-mini', 'llama3.2:latest', 'qwen2.5:0.5b']);
    expect(ids('anthropic')).toEqual(['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-7', 'claude-a']);
    expect(ids('ollama')).toEqual(['llama3.2:latest', 'qwen2.5:0.5b']);
    expect(ids('echo')).toEqual(['echo']);
  });

  test('a provider that is down contributes its configured list, never an exception', async () => {
    const down = await closedPortUrl();
    const { log, lines } = memoryLog();
    const p = createProviders(
      config({ ...allThree(), OPENAI_BASE_URL: `${down}/v1`, ANTHROPIC_BASE_URL: down, OLLAMA_BASE_URL: down }),
      log,
    );
    const models = await p.listAllModels();
    expect(models.map((m) => `${m.provider}:${m.id}`)).toEqual([
      'openai:gpt-a',
      'openai:gpt-b',
      'anthropic:claude-a',
      'ollama:llama3.2',
      'echo:echo',
    ]);
    expect(lines.filter((l) => l.msg === 'llm.models_list_failed').length).toBe(3);
    expect(lines[0]?.component).toBe('llm');
  });

  test('a provider whose listModels throws is still covered', async () => {
    const p = createProviders(config(allThree()), silentLog);
    p.providers.set('openai', { ...p.providers.get('openai')!, listModels: () => Promise.reject(new Error('bug')) });
    const models = await p.listAllModels();
    expect(models.filter((m) => m.provider === 'openai').map((m) => m.id)).toEqual(['gpt-a', 'gpt-b']);
  });
});
