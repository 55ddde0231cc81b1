// Ollama: chat through its OpenAI-compatible /v1 API, models and admin through its native /api.
// Its /v1 stream ends with `data: [DONE]` and may carry `finish_reason` null on every chunk (an
// empty done_reason), and its thinking as `delta.reasoning`: openai.ts handles both.
// Images go as /v1 `image_url` parts holding base64 `data:` URLs, which Ollama turns into the
// `images` of its native messages. Its /v1 refuses any other URL (it fetches nothing) and any
// format but PNG, JPEG and WebP (400 "invalid image input"): OLLAMA_IMAGE_INPUT says so, and the
// request is refused before it is sent rather than fetched here, so Parley never fetches URLs
// on a caller's behalf (no server-side request forgery to guard, no size cap to enforce).

import { truncateGraphemes } from '../../text/graphemes.ts';
import { createOpenAiProvider } from './openai.ts';
import type { UpstreamFetch } from './pool.ts';
import { LIST_TIMEOUT_MS, logSafeDetail, modelInfos, upstreamFailure, withTimeout } from './shared.ts';
import type { ImageInput, LlmProvider } from './types.ts';
import { UnknownModelError, UpstreamError } from './types.ts';

export type OllamaProviderOptions = {
  /** Without `/v1`, e.g. `http://localhost:11434`. */
  baseUrl: string;
  /** The connection pool to reach upstream through (see pool.ts); global fetch when absent. */
  fetch?: UpstreamFetch;
};

/** What Ollama's /v1 takes: base64 data only, PNG, JPEG or WebP (see the top of this file). */
export const OLLAMA_IMAGE_INPUT: ImageInput = { urls: false, mediaTypes: ['image/png', 'image/jpeg', 'image/webp'] };

export type OllamaModelStatus = { model: string; installed: boolean; loaded: boolean };

/** Per-call options for the admin helpers. */
export type OllamaCallOptions = { timeoutMs?: number };

const trimSlash = (url: string) => url.replace(/\/+$/, '');

/** Ollama's default tag: `llama3.2` and `llama3.2:latest` name the same model. */
export function ollamaModelName(name: string): string {
  return name.includes(':') ? name : `${name}:latest`;
}

export function createOllamaProvider(options: OllamaProviderOptions): LlmProvider {
  const baseUrl = trimSlash(options.baseUrl);
  const chat = createOpenAiProvider({
    apiKey: 'ollama', // ignored by Ollama, required by the SDK
    baseUrl: `${baseUrl}/v1`,
    name: 'ollama',
    logprobs: false,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });

  return {
    name: 'ollama',
    listModels: async () => modelInfos('ollama', await installedModels(baseUrl, { timeoutMs: LIST_TIMEOUT_MS })),
    imageInput: OLLAMA_IMAGE_INPUT,
    // Its /v1 does not promise log probabilities: a request for them is refused rather than answered without.
    logprobs: false,
    stream: (request) => chat.stream(request),
  };
}

/** Installed (from /api/tags) and loaded in memory (from /api/ps). Absent from tags → UnknownModelError. */
export async function ollamaModelStatus(baseUrl: string, model: string, options: OllamaCallOptions = {}): Promise<OllamaModelStatus> {
  const url = trimSlash(baseUrl);
  const [installed, loaded] = await Promise.all([installedModels(url, options), loadedModels(url, options)]);
  const name = ollamaModelName(model);
  if (!installed.includes(name)) throw new UnknownModelError(`ollama model "${model}" is not installed`);
  return { model, installed: true, loaded: loaded.includes(name) };
}

/** Loads the model and pins it in memory (keep_alive -1) until stopOllamaModel. */
export async function startOllamaModel(baseUrl: string, model: string, options: OllamaCallOptions = {}): Promise<void> {
  // Loading a large model from disk can take a while.
  await loadOrUnload(trimSlash(baseUrl), model, -1, { timeoutMs: 120_000, ...options });
}

/** Unloads the model from memory now (keep_alive 0). */
export async function stopOllamaModel(baseUrl: string, model: string, options: OllamaCallOptions = {}): Promise<void> {
  await loadOrUnload(trimSlash(baseUrl), model, 0, { timeoutMs: 30_000, ...options });
}

async function loadOrUnload(baseUrl: string, model: string, keepAlive: number, options: OllamaCallOptions): Promise<void> {
  try {
    // A generate request without a prompt only loads (or, with keep_alive 0, unloads).
    await ollamaJson(baseUrl, 'POST', '/api/generate', options, { model, keep_alive: keepAlive });
  } catch (e) {
    if (e instanceof UpstreamError && e.options.status === 404) {
      throw new UnknownModelError(`ollama model "${model}" is not installed`);
    }
    throw e;
  }
}

type TagList = { models?: { name?: string; model?: string }[] };

async function installedModels(baseUrl: string, options: OllamaCallOptions): Promise<string[]> {
  return namesOf((await ollamaJson(baseUrl, 'GET', '/api/tags', options)) as TagList);
}

async function loadedModels(baseUrl: string, options: OllamaCallOptions): Promise<string[]> {
  return namesOf((await ollamaJson(baseUrl, 'GET', '/api/ps', options)) as TagList);
}

function namesOf(list: TagList): string[] {
  const names = (list.models ?? []).map((m) => m.name ?? m.model).filter((n): n is string => typeof n === 'string');
  return names.map(ollamaModelName);
}

/** One call to the native API; every failure becomes an UpstreamError (with status when there is one). */
async function ollamaJson(
  baseUrl: string,
  method: 'GET' | 'POST',
  path: string,
  options: OllamaCallOptions,
  body?: unknown,
): Promise<unknown> {
  return withTimeout(options.timeoutMs ?? 5000, async (signal) => {
    let res: Response;
    let text: string;
    try {
      res = await fetch(`${baseUrl}${path}`, {
        method,
        signal,
        ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      });
      text = await res.text();
    } catch (e) {
      throw new UpstreamError(upstreamFailure.unreachable('ollama'), {
        retryable: true,
        cause: e,
        detail: logSafeDetail(`${path}: ${e instanceof Error ? e.message : String(e)}`),
      });
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const said = (parsed as { error?: unknown } | undefined)?.error;
      const message = typeof said === 'string' ? said : truncateGraphemes(text, 200) || res.statusText;
      throw new UpstreamError(upstreamFailure.status('ollama', res.status), {
        status: res.status,
        retryable: res.status === 429 || res.status >= 500,
        detail: logSafeDetail(`${path} answered ${res.status}: ${message}`),
      });
    }
    if (parsed === undefined) {
      throw new UpstreamError(upstreamFailure.malformed('ollama'), {
        retryable: true,
        detail: logSafeDetail(`${path} answered invalid JSON: ${text}`),
      });
    }
    return parsed;
  });
}
