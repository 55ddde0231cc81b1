// POST /files/:id/analyze: one of the caller's files put to a model through the reply engine, as
// a reply with no chat (only its usage is stored): text extracted within the context budget,
// images as image parts for vision models. Counted against the caller's LLM limits like any reply.
import type { UserCaller } from '../../http/auth.ts';
import type { Infra } from '../../infra/index.ts';
import type { ContentPart } from '../../infra/llm/types.ts';
import type { RepliesService } from '../replies/service.ts';
import type { FilePrompts } from './prompt.ts';

/** What the analysis asks when the caller gives no prompt. */
export const defaultAnalyzePrompt =
  'Analyse the attached file: say what it is, summarise its main points, and note anything unusual or worth checking.';

export type AnalyzeRequest = { prompt?: string; provider?: string; model?: string; temperature?: number; maxTokens?: number };

export function createFileAnalysis(infra: Pick<Infra, 'config'>, deps: { replies: RepliesService; prompts: FilePrompts }) {
  const { config } = infra;
  const { replies, prompts } = deps;

  /**
   * Starts the analysis of file `id` (404 when it is not the caller's): 422 for a model that is
   * not offered or cannot take the file's image, 429 past the caller's limits; then the reply's
   * stream id, its completion, and the notes on what of the file was cut or not sent.
   */
  async function start(caller: UserCaller, ip: string, id: string, request: AnalyzeRequest) {
    const model = await replies.resolveModel({ provider: request.provider, model: request.model });
    const prompt = request.prompt ?? defaultAnalyzePrompt;
    const file = await prompts.partsOf(caller.user.id, [id], config.llm.contextTokenBudget);
    const content: ContentPart[] = [{ type: 'text', text: prompt }, ...(file.parts.get(id) ?? [])];
    const history = [{ role: 'user' as const, content }];
    replies.checkImages(model, history);
    const started = await replies.admitReply(caller, ip, model, (slot) =>
      replies.start({
        slot,
        userId: caller.user.id,
        apiKeyId: caller.apiKeyId,
        chatId: null,
        userMessageId: null,
        ...model,
        history,
        maxTokens: request.maxTokens ?? config.maxTokens,
        temperature: request.temperature ?? config.temperature,
      }),
    );
    return { started, notes: file.notes };
  }

  return {
    start,
    /** The analysis as SSE (the reply's stream: start, deltas, done; resumable at GET /streams/:id). */
    async stream(caller: UserCaller, ip: string, id: string, request: AnalyzeRequest): Promise<Response> {
      const { started } = await start(caller, ip, id, request);
      return replies.sse(started.streamId);
    },
    /** The whole analysis once the model has answered (502 when it failed). */
    async complete(caller: UserCaller, ip: string, id: string, request: AnalyzeRequest) {
      const { started, notes } = await start(caller, ip, id, request);
      const result = await replies.result(started);
      return { fileId: id, analysis: result.text, provider: result.provider, model: result.model, usage: result.usage, notes };
    },
  };
}
