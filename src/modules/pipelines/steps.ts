// What each step type does. LLM steps are replies with no chat, started through the reply engine
// (limits, concurrent-reply places and usage apply as to any reply); `file` and `transcribe` read
// through the sources the app wires in (the files and voice modules), and fail clearly without them.
import type { UserCaller } from '../../http/auth.ts';
import { AppError, unavailableFrom } from '../../http/errors.ts';
import type { Logger } from '../../infra/log/index.ts';
import type { RepliesService } from '../replies/service.ts';
import { type CompiledStep, renderTemplate, TemplateTooLargeError } from './definition.ts';
import type { ExecutionRow } from './repository.ts';

/**
 * Where `file` and `transcribe` steps read from (the files and voice services, wired in app.ts).
 * Each throws AppError `not_found` for a file that is not the user's; an absent function makes
 * its step type fail with `unavailable`.
 */
export type PipelineSources = {
  /** The text of one of `userId`'s files, cut to at most `maxChars` characters. */
  fileText?(userId: string, fileId: string, maxChars: number, signal: AbortSignal): Promise<string>;
  /** Speech to text of one of `userId`'s uploaded audio files. */
  transcribe?(userId: string, fileId: string, signal: AbortSignal): Promise<string>;
};

/** Why a step failed, and whether another attempt may do better. */
export class StepFailure extends Error {
  override readonly name = 'StepFailure';
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const retryableCodes = new Set(['upstream_error', 'unavailable', 'rate_limited', 'internal_error', 'interrupted', 'timeout']);

/** Any error a step threw, as a StepFailure: its code, a message fit for the owner, and whether to retry. */
export function toStepFailure(error: unknown, log: Logger): StepFailure {
  if (error instanceof StepFailure) return error;
  if (error instanceof AppError) return new StepFailure(error.code, error.message, retryableCodes.has(error.code));
  const outage = unavailableFrom(error);
  if (outage) return new StepFailure('unavailable', outage.message, true);
  log.error('a pipeline step failed unexpectedly', { error });
  return new StepFailure('internal_error', 'The step failed unexpectedly', true);
}

export type StepResult = { output: string; provider?: string; model?: string; usage?: { inputTokens: number; outputTokens: number } };

export type StepContext = {
  execution: ExecutionRow;
  caller: UserCaller;
  values: { input: Record<string, string>; outputs: Map<string, string> };
  /** Aborted on cancel, timeout, or when this instance lets the execution go. */
  signal: AbortSignal;
  /** The reply generating an LLM step, once started (stored, so a cancel on another instance can stop it). */
  onGeneration(messageId: string): Promise<void>;
};

const defaultMaxChars = 100_000;

/** Runs one step once; throws (preferably a StepFailure) when it fails. */
export function createStepRunner(deps: {
  replies: RepliesService;
  sources: PipelineSources;
  config: { maxTokens: number; temperature: number };
}) {
  const { replies, sources } = deps;
  const text = (step: CompiledStep, field: string, context: StepContext) => {
    const template = step.templates[field];
    if (!template) return undefined;
    try {
      return renderTemplate(template, context.values);
    } catch (error) {
      if (error instanceof TemplateTooLargeError) throw new StepFailure('output_too_large', error.message, false);
      throw error;
    }
  };
  const fileIdOf = (step: CompiledStep, context: StepContext) => {
    const fileId = text(step, 'fileId', context)?.trim();
    if (!fileId) throw new StepFailure('validation_error', 'fileId is empty once its template is filled in', false);
    return fileId;
  };

  async function llm(step: CompiledStep, context: StepContext): Promise<StepResult> {
    const definition = step.definition;
    let model: Awaited<ReturnType<RepliesService['resolveModel']>>;
    try {
      model = await replies.resolveModel({ provider: definition.provider, model: definition.model });
    } catch (error) {
      if (error instanceof AppError) throw new StepFailure('validation_error', error.message, false);
      throw error;
    }
    const { caller, execution, signal } = context;
    const started = await replies.admitReply(caller, execution.ip, model, (slot) =>
      replies.start({
        slot,
        userId: execution.userId,
        // An execution runs as its owner (engine.ts callerOf), not as the key that started it.
        apiKeyId: caller.apiKeyId,
        chatId: null,
        userMessageId: null,
        ...model,
        system: text(step, 'system', context),
        history: [{ role: 'user', content: text(step, 'prompt', context) ?? '' }],
        maxTokens: definition.maxTokens ?? deps.config.maxTokens,
        temperature: definition.temperature ?? deps.config.temperature,
      }),
    );
    // The upstream sees the abort: cancel goes through the reply engine, like a chat's cancel.
    const stop = () => void replies.cancel(started.messageId).catch(() => undefined);
    signal.addEventListener('abort', stop, { once: true });
    try {
      if (signal.aborted) stop();
      else await context.onGeneration(started.messageId);
      const result = await started.done;
      if (result.status === 'complete') return { output: result.text, provider: result.provider, model: result.model, usage: result.usage };
      if (result.status === 'cancelled') throw new StepFailure('interrupted', 'The model call was stopped before it finished', true);
      const code = result.error?.code ?? 'upstream_error';
      throw new StepFailure(code, result.error?.message ?? 'The model provider failed', retryableCodes.has(code));
    } finally {
      signal.removeEventListener('abort', stop);
    }
  }

  return async function runStep(step: CompiledStep, context: StepContext): Promise<StepResult> {
    const { execution, signal } = context;
    switch (step.type) {
      case 'template':
        return { output: text(step, 'template', context) ?? '' };
      case 'llm':
        return llm(step, context);
      case 'file': {
        if (!sources.fileText) throw new StepFailure('unavailable', 'Reading files is not available to pipelines on this server', false);
        const maxChars = step.definition.maxChars ?? defaultMaxChars;
        return { output: await sources.fileText(execution.userId, fileIdOf(step, context), maxChars, signal) };
      }
      case 'transcribe':
        if (!sources.transcribe) throw new StepFailure('unavailable', 'Transcription is not available to pipelines on this server', false);
        return { output: await sources.transcribe(execution.userId, fileIdOf(step, context), signal) };
    }
  };
}

export type StepRunner = ReturnType<typeof createStepRunner>;
