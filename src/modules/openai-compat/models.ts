// GET /v1/models and GET /v1/models/{model} in OpenAI's format (platform.openai.com/docs/api-reference/models).
// Parley's ids are `provider/model`, so a model's id holds a `/`: the official SDK sends it encoded
// (`/v1/models/openai%2Fgpt-5.5`), other clients as is (`/v1/models/openai/gpt-5.5`); both work.
import { Elysia, t } from 'elysia';
import type { UserCaller } from '../../http/auth.ts';
import { AppError } from '../../http/errors.ts';
import type { RouteBundle } from '../../http/routes.ts';
import { type ModelInfo, ollamaModelName } from '../../infra/llm/index.ts';
import { modelOf } from '../gateway/service.ts';
import type { ModelsService } from '../models/service.ts';
import type { RepliesService } from '../replies/service.ts';
import { openAiErrors } from './errors.ts';
import { OpenAiModelList } from './model.ts';

const tags = ['OpenAI-compatible'];

export const OpenAiModel = t.Object({
  id: t.String({ description: 'provider/model' }),
  object: t.Literal('model'),
  created: t.Integer({ description: 'Seconds since the epoch; 0 (providers do not say)' }),
  owned_by: t.String({ description: 'The provider' }),
});
export type OpenAiModel = typeof OpenAiModel.static;

const toOpenAi = (model: ModelInfo): OpenAiModel => ({
  id: `${model.provider}/${model.id}`,
  object: 'model',
  created: 0,
  owned_by: model.provider,
});

/**
 * OpenAI's answer for a model that does not exist, or that the caller's key may not use (OpenAI
 * answers both alike): 404 `model_not_found` naming `model` in `param`, which the SDKs raise as
 * NotFoundError. Built here, not by the error handler, because it must be OpenAI's shape exactly.
 */
const modelNotFound = (id: string) => ({
  error: {
    message: `The model \`${id}\` does not exist or you do not have access to it.`,
    type: 'invalid_request_error',
    param: 'model',
    code: 'model_not_found',
  },
});

/** A model id as asked: the path's, percent-decoded once more for a wildcard tail (null when malformed). */
function decoded(raw: string | null | undefined): string | null {
  if (!raw) return null;
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

/** Whether `listed` (an id a provider lists) is the model `asked` names; Ollama's `name` is `name:latest`. */
const sameModel = (provider: string, listed: string, asked: string) =>
  listed === asked || (provider === 'ollama' && ollamaModelName(listed) === ollamaModelName(asked));

export function openAiModelRoutes({ models, replies, routes }: { models: ModelsService; replies: RepliesService; routes: RouteBundle }) {
  /** Every model the caller may use (their API key's allowed models), as OpenAI lists them. */
  const visible = async (caller: UserCaller) =>
    (await models.list()).filter((model) => replies.modelAllowed(caller, { provider: model.provider, model: model.id }));

  /**
   * The model `id` names, read as /v1/chat/completions reads it: `provider/model` (a provider alias
   * such as `claude/…` names its provider), else a model of the default provider. Null when no
   * offered model is that one, or the caller's key may not use it.
   */
  async function find(caller: UserCaller, id: string): Promise<OpenAiModel | null> {
    let resolved: { provider: string; model: string };
    try {
      resolved = await replies.resolveModel(modelOf(id));
    } catch (error) {
      if (error instanceof AppError && error.code === 'validation_error') return null; // a provider that is not configured
      throw error;
    }
    const match = (await visible(caller)).find(
      (model) => model.provider === resolved.provider && sameModel(model.provider, model.id, resolved.model),
    );
    return match ? toOpenAi(match) : null;
  }

  /** The model the path names, or the body of OpenAI's 404 for it. */
  const retrieve = async (caller: UserCaller, raw: string | null | undefined) => {
    const id = decoded(raw)?.trim();
    const found = id ? await find(caller, id) : null;
    return found ? { found } : { missing: modelNotFound(id || String(raw ?? '')) };
  };
  // The 404 is OpenAI's body, not a declared response schema: the document keeps the shared 404.
  const respond = (set: { status?: number | string }, result: Awaited<ReturnType<typeof retrieve>>): OpenAiModel => {
    if (result.found) return result.found;
    set.status = 404;
    return result.missing as unknown as OpenAiModel;
  };

  const detail = {
    ...openAiErrors,
    tags,
    summary: 'One model as OpenAI describes it; its id is provider/model (the / may be sent as %2F). Unknown: 404 model_not_found',
  };

  return (
    // Mounted by the module's instance, whose `/v1` prefix its paths take.
    new Elysia({ name: 'openai-compat-models' })
      .use(routes.api())
      .get('/models', async ({ caller }) => ({ object: 'list' as const, data: (await visible(caller)).map(toOpenAi) }), {
        auth: true,
        response: { 200: OpenAiModelList },
        detail: {
          tags,
          summary: 'Models as OpenAI lists them; ids are provider/model (for an API key with allowed models, only those)',
          ...openAiErrors,
        },
      })
      // `openai%2Fgpt-5.5` and one-word ids: one path segment, decoded by the router.
      .get('/models/:model', async ({ caller, params, set }) => respond(set, await retrieve(caller, params.model)), {
        auth: true,
        params: t.Object({ model: t.String({ maxLength: 300, description: 'provider/model, the / sent as is or as %2F' }) }),
        response: { 200: OpenAiModel },
        detail,
      })
      // `openai/gpt-5.5` as is: the same operation, so it is not documented twice.
      .get('/models/*', async ({ caller, params, set }) => respond(set, await retrieve(caller, params['*'])), {
        auth: true,
        response: { 200: OpenAiModel },
        detail: { ...detail, hide: true },
      })
  );
}
