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
  test('happy: echo alone when nothing is configured; every configured one otherwise', () => {
    expect([...createProviders(config({}), silentLog).providers.keys()]).toEqual(['echo']);
    expect([...createProviders(config(allThree()), silentLog).providers.keys()]).toEqual(['openai', 'anthropic', 'ollama', 'echo']);
  });

  test('happy: the built providers talk to the configured upstreams', async () => {
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
    ({ resolve: resolve } = createProviders(
      config({ ...allThree(), DEFAULT_PROVIDER: 'anthropic', DEFAULT_MODEL: 'claude-default' }),
      silentLog,
    ));
  });

  test('happy: the request wins over the chat and the defaults', async () => {
    expect(await resolve('openai', 'gpt-x', { provider: 'ollama', model: 'm' })).toEqual({ provider: 'openai', model: 'gpt-x' });
  });

  test('happy: a requested provider without a model takes its first configured model', async () => {
    expect(await resolve('openai')).toEqual({ provider: 'openai', model: 'gpt-a' });
    expect(await resolve('echo')).toEqual({ provider: 'echo', model: 'echo' });
    expect(await resolve('ollama')).toEqual({ provider: 'ollama', model: 'llama3.2' });
    // The chat's model belongs to another provider: not inherited.
    expect(await resolve('openai', null, { provider: 'ollama', model: 'llama3.2' })).toEqual({ provider: 'openai', model: 'gpt-a' });
    // The configured list is enough: nothing is asked of upstream.
    expect(fake.requests).toEqual([]);
  });

  test('happy: a requested provider inherits the chat model when it is the chat provider', async () => {
    expect(await resolve('ollama', undefined, { provider: 'ollama', model: 'qwen2.5:0.5b' })).toEqual({
      provider: 'ollama',
      model: 'qwen2.5:0.5b',
    });
  });

  test('happy: a requested model alone stays with the chat provider, else the default', async () => {
    expect(await resolve(undefined, 'gpt-4.1', { provider: 'openai', model: 'gpt-a' })).toEqual({ provider: 'openai', model: 'gpt-4.1' });
    expect(await resolve(null, 'claude-x')).toEqual({ provider: 'anthropic', model: 'claude-x' });
  });

  test('happy: the chat wins over the defaults', async () => {
    expect(await resolve(undefined, undefined, { provider: 'openai', model: 'gpt-b' })).toEqual({ provider: 'openai', model: 'gpt-b' });
    expect(await resolve(undefined, undefined, { provider: 'openai', model: null })).toEqual({ provider: 'openai', model: 'gpt-a' });
  });

  test('happy: DEFAULT_PROVIDER and DEFAULT_MODEL last', async () => {
    expect(await resolve()).toEqual({ provider: 'anthropic', model: 'claude-default' });
    expect(await resolve(undefined, undefined, { provider: null, model: null })).toEqual({
      provider: 'anthropic',
      model: 'claude-default',
    });
    // A model-only chat belongs to the default provider.
    expect(await resolve(undefined, undefined, { model: 'claude-chat' })).toEqual({ provider: 'anthropic', model: 'claude-chat' });
    // Without DEFAULT_MODEL, the default provider's first configured model.
    expect(await createProviders(config(allThree()), silentLog).resolve()).toEqual({ provider: 'openai', model: 'gpt-a' });
  });

  test('error: unknown or unconfigured providers are UnknownModelError', async () => {
    await expect(resolve('mistral')).rejects.toThrow(UnknownModelError);
    const echoOnly = createProviders(config({}), silentLog);
    expect(await echoOnly.resolve()).toEqual({ provider: 'echo', model: 'echo' });
    await expect(echoOnly.resolve('openai', 'gpt-4o')).rejects.toThrow(UnknownModelError);
    await expect(echoOnly.resolve(undefined, undefined, { provider: 'anthropic', model: 'claude' })).rejects.toThrow(UnknownModelError);
  });

  test('happy: ollama without OLLAMA_MODELS takes the first model of /api/tags', async () => {
    const p = createProviders(config({ OLLAMA_BASE_URL: fake.ollamaBaseURL }), silentLog);
    expect(await p.resolve('ollama', 'qwen2.5:0.5b')).toEqual({ provider: 'ollama', model: 'qwen2.5:0.5b' });
    expect(fake.requests).toEqual([]);
    expect(await p.resolve('ollama')).toEqual({ provider: 'ollama', model: 'llama3.2:latest' });
    expect(fake.requests.map((r) => r.path)).toEqual(['/api/tags']);
    expect(await p.resolve('echo')).toEqual({ provider: 'echo', model: 'echo' });
  });

  test('error: ollama without OLLAMA_MODELS that lists nothing, or is down, is UnknownModelError (and the failure is logged)', async () => {
    const { log, lines } = memoryLog();
    const down = createProviders(config({ OLLAMA_BASE_URL: await closedPortUrl() }), log);
    await expect(down.resolve('ollama')).rejects.toThrow(UnknownModelError);
    expect(lines.filter((l) => l.msg === 'llm.models_list_failed').map((l) => l.provider)).toEqual(['ollama']);

    const empty = createProviders(config({ OLLAMA_BASE_URL: fake.ollamaBaseURL }), silentLog);
    empty.providers.set('ollama', { ...empty.providers.get('ollama')!, listModels: async () => [] });
    await expect(empty.resolve('ollama')).rejects.toThrow(UnknownModelError);
  });
});

describe('listAllModels', () => {
  test('happy: merges every provider', async () => {
    const { log, lines } = memoryLog();
    const models = await createProviders(config(allThree()), log).listAllModels();
    const ids = (provider: string) => models.filter((m) => m.provider === provider).map((m) => m.id);
    expect(ids('openai')).toEqual(['gpt-4o-mini', 'gpt-4.1', 'o4-mini', 'llama3.2:latest', 'qwen2.5:0.5b']);
    // Upstream's ids; the configured `claude-a` names none of them, so it is not offered.
    expect(ids('anthropic')).toEqual(['claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-opus-4-7']);
    expect(ids('ollama')).toEqual(['llama3.2:latest', 'qwen2.5:0.5b']);
    expect(ids('echo')).toEqual(['echo']);
    expect(lines.filter((l) => l.msg === 'llm.models_list_failed')).toEqual([]);
  });

  test('happy: anthropic aliases already listed upstream are not repeated', async () => {
    const models = await createProviders(
      config({ ...allThree(), ANTHROPIC_MODELS: 'claude-haiku-4-5,claude-a' }),
      silentLog,
    ).listAllModels();
    expect(models.filter((m) => m.provider === 'anthropic').map((m) => m.id)).toEqual([
      'claude-sonnet-4-6',
      'claude-haiku-4-5',
      'claude-opus-4-7',
    ]);
  });

  test('happy: upstream’s list is preferred: an alias follows the dated id it names; a retired one is left out', async () => {
    const dated = await startFakeUpstream({
      anthropicModels: ['claude-sonnet-5-5-20261001', 'claude-opus-5-5', 'claude-haiku-4-5-20251001'],
    });
    try {
      const models = await createProviders(
        config({
          ANTHROPIC_API_KEY: 'k',
          ANTHROPIC_BASE_URL: dated.anthropicBaseURL,
          // claude-sonnet-4-5 reached its end of life: upstream lists it no more. claude-haiku-4 names no listed model.
          ANTHROPIC_MODELS: 'claude-sonnet-5-5,claude-sonnet-4-5,claude-haiku-4-5,claude-haiku-4,claude-opus-5-5',
        }),
        silentLog,
      ).listAllModels();
      expect(models.filter((m) => m.provider === 'anthropic').map((m) => m.id)).toEqual([
        'claude-sonnet-5-5-20261001',
        'claude-opus-5-5',
        'claude-haiku-4-5-20251001',
        'claude-sonnet-5-5',
        'claude-haiku-4-5',
      ]);
    } finally {
      await dated.stop();
    }
  });

  test('error: a provider that is down contributes its configured list, never an exception, and is logged once', async () => {
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
    const warnings = lines.filter((l) => l.msg === 'llm.models_list_failed');
    expect(warnings.map((l) => l.provider).toSorted()).toEqual(['anthropic', 'ollama', 'openai']);
    for (const warning of warnings) {
      expect(warning.component).toBe('llm');
      expect(warning.level).toBe('warn');
      expect(typeof warning.error).toBe('string');
    }
  });

  test('error: a provider whose listModels throws contributes its configured list, and the error is logged', async () => {
    const { log, lines } = memoryLog();
    const p = createProviders(config(allThree()), log);
    p.providers.set('openai', { ...p.providers.get('openai')!, listModels: () => Promise.reject(new Error('bug')) });
    p.providers.set('anthropic', { ...p.providers.get('anthropic')!, listModels: () => Promise.reject(new Error('anthropic bug')) });
    const models = await p.listAllModels();
    expect(models.filter((m) => m.provider === 'openai').map((m) => m.id)).toEqual(['gpt-a', 'gpt-b']);
    expect(models.filter((m) => m.provider === 'anthropic').map((m) => m.id)).toEqual(['claude-a']);
    expect(models.filter((m) => m.provider === 'ollama').map((m) => m.id)).toEqual(['llama3.2:latest', 'qwen2.5:0.5b']);
    expect(
      lines
        .filter((l) => l.msg === 'llm.models_list_failed')
        .map((l) => `${l.provider}: ${l.error}`)
        .toSorted(),
    ).toEqual(['anthropic: anthropic bug', 'openai: bug']);
  });

  test('happy: a provider that lists nothing contributes its configured list (anthropic its aliases)', async () => {
    const { log, lines } = memoryLog();
    const p = createProviders(config(allThree()), log);
    for (const name of ['openai', 'anthropic', 'ollama'] as const) {
      p.providers.set(name, { ...p.providers.get(name)!, listModels: async () => [] });
    }
    const models = await p.listAllModels();
    expect(models).toEqual([
      { id: 'gpt-a', provider: 'openai', name: 'gpt-a', capabilities: ['chat', 'stream'] },
      { id: 'gpt-b', provider: 'openai', name: 'gpt-b', capabilities: ['chat', 'stream'] },
      { id: 'claude-a', provider: 'anthropic', name: 'claude-a', capabilities: ['chat', 'stream'] },
      { id: 'llama3.2', provider: 'ollama', name: 'llama3.2', capabilities: ['chat', 'stream'] },
      // Echo takes images (see vision.ts): listed with the vision capability.
      { id: 'echo', provider: 'echo', name: 'echo', capabilities: ['chat', 'stream', 'vision'] },
    ]);
    // An empty list is an answer, not a failure.
    expect(lines.filter((l) => l.msg === 'llm.models_list_failed')).toEqual([]);
  });
});
