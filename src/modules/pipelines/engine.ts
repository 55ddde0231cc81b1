// Runs one execution, as a queue job, on whichever instance took it: its steps as a graph
// (independent ones at once, dependants once what they need succeeded), each with a timeout and
// retries with backoff. Every step result is stored as it comes, and every write is conditional
// on the state it moves from, so a cancel from any instance and a take-over after an instance
// died never run a stored step again or overwrite one another.
import type { UserCaller } from '../../http/auth.ts';
import type { Infra } from '../../infra/index.ts';
import type { QueuedJob } from '../../infra/queue/index.ts';
import type { KeyStanding } from '../auth/service.ts';
import type { UsersService } from '../users/service.ts';
import {
  type CompiledPipeline,
  type CompiledStep,
  compilePipeline,
  renderTemplate,
  type StepDefinition,
  TemplateTooLargeError,
} from './definition.ts';
import type { Progress } from './progress.ts';
import { activeStatuses, type ExecutionRow, type PipelinesRepository, type RunError } from './repository.ts';
import { StepFailure, type StepRunner, toStepFailure } from './steps.ts';

export type ExecutionJob = { executionId: string };
type UserRow = NonNullable<Awaited<ReturnType<UsersService['findById']>>>;

/** Why an execution's signal was aborted here. */
const cancelled = 'cancelled';
const released = 'released';
const cancelChannel = 'pipeline:cancel';

type StepOutcome = { kind: 'succeeded'; output: string } | { kind: 'failed'; failure: StepFailure } | { kind: 'stopped' };

/** Waits `ms`, or less when `signal` aborts. */
const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * The owner as the reply engine's limits see a caller (tier and role read afresh for each
 * execution run); with `key`, as the API key the execution was started with (its grant and expiry).
 */
function callerOf(user: UserRow, key?: { id: string; standing: Extract<KeyStanding, { ok: true }> }): UserCaller {
  return {
    user: {
      id: user.id,
      role: user.role,
      tier: user.tier,
      email: user.email,
      name: user.name,
      emailVerified: user.emailVerified,
      createdAt: user.createdAt,
    },
    isAdmin: user.role === 'admin',
    via: key ? 'apiKey' : 'token',
    sessionId: null,
    tokenId: null,
    tokenExpiresAt: null,
    apiKeyId: key?.id ?? null,
    apiKeyExpiresAtMs: key?.standing.expiresAtMs ?? null,
    ...(key ? { apiKeyGrant: key.standing.grant } : {}),
  };
}

export type EngineDeps = {
  repo: PipelinesRepository;
  progress: Progress;
  runStep: StepRunner;
  findUser(id: string): Promise<UserRow | undefined>;
  /** What the API key an execution was started with allows now (the auth service's keyStanding). */
  keyStanding(id: string): Promise<KeyStanding>;
  /** Steps and outcomes, for /metrics. */
  observe(type: string, outcome: 'succeeded' | 'failed' | 'retried', seconds: number): void;
};

export function createEngine(infra: Infra, deps: EngineDeps) {
  const { kv, log, config } = infra;
  const { repo, progress, runStep } = deps;
  const running = new Map<string, AbortController>();
  let listening: Promise<unknown> | undefined;
  // One subscription per instance: whoever runs an execution obeys a cancel sent from anywhere.
  const listen = () =>
    (listening ??= kv
      .subscribe(cancelChannel, (id) => running.get(id)?.abort(cancelled))
      .catch((error) => {
        listening = undefined;
        log.warn('cannot listen for pipeline cancels', { error: (error as Error).message });
      }));

  /** Ends the execution (unless a cancel ended it first) and sends its last event. */
  async function finish(execution: ExecutionRow, fields: { status: 'succeeded' | 'failed'; output?: string; error?: RunError }) {
    const done = await repo.finishExecution(execution.id, fields);
    if (done) await progress.finish(done, await repo.stepRuns(execution.id));
  }

  /** One step until it succeeds, fails for good, or is stopped: each attempt claimed (and counted) in the database first. */
  async function runOne(
    execution: ExecutionRow,
    step: CompiledStep,
    context: Omit<Parameters<StepRunner>[1], 'signal' | 'onGeneration'>,
    signal: AbortSignal,
  ): Promise<StepOutcome> {
    const definition: StepDefinition = step.definition;
    const retries = definition.retries ?? config.pipelines.stepRetries;
    const timeoutMs = definition.timeoutMs ?? config.pipelines.stepTimeoutMs;
    for (;;) {
      if (signal.aborted) return { kind: 'stopped' };
      const claimed = await repo.claimStep(execution.id, definition.id);
      if (!claimed) return { kind: 'stopped' };
      await progress.step(execution, claimed);
      const attempt = new AbortController();
      const timer = setTimeout(() => attempt.abort('timeout'), timeoutMs);
      const startedAt = performance.now();
      let result: Awaited<ReturnType<StepRunner>> | undefined;
      let error: unknown;
      try {
        result = await runStep(step, {
          ...context,
          signal: AbortSignal.any([signal, attempt.signal]),
          onGeneration: async (messageId) => {
            await repo.setStepMessage(execution.id, definition.id, messageId);
          },
        });
      } catch (thrown) {
        error = thrown;
      } finally {
        clearTimeout(timer);
      }
      const seconds = (performance.now() - startedAt) / 1000;
      if (signal.aborted) {
        // Let go: the step goes back to pending for whoever runs the execution next. (A cancel has marked it cancelled: this finds nothing.)
        if (signal.reason === released) await repo.settleStep(execution.id, definition.id, { status: 'pending' }).catch(() => undefined);
        return { kind: 'stopped' };
      }
      if (!error && result) {
        const stored = await repo.settleStep(execution.id, definition.id, {
          status: 'succeeded',
          output: result.output,
          provider: result.provider,
          model: result.model,
          inputTokens: result.usage?.inputTokens,
          outputTokens: result.usage?.outputTokens,
        });
        if (!stored) return { kind: 'stopped' };
        deps.observe(step.type, 'succeeded', seconds);
        await progress.step(execution, stored);
        return { kind: 'succeeded', output: result.output };
      }
      const failure = attempt.signal.aborted
        ? new StepFailure('timeout', `The step took longer than ${timeoutMs} ms`, true)
        : toStepFailure(error, log);
      const retry = failure.retryable && claimed.attempts <= retries;
      const stored = await repo.settleStep(execution.id, definition.id, {
        status: retry ? 'pending' : 'failed',
        error: { code: failure.code, message: failure.message },
      });
      if (!stored) return { kind: 'stopped' };
      deps.observe(step.type, retry ? 'retried' : 'failed', seconds);
      await progress.step(execution, stored);
      if (!retry) return { kind: 'failed', failure };
      await pause(config.pipelines.retryBaseMs * 2 ** (claimed.attempts - 1), signal);
    }
  }

  /** The graph: starts every step whose dependencies succeeded, until none is left to start. */
  async function runGraph(execution: ExecutionRow, compiled: CompiledPipeline, caller: UserCaller, signal: AbortSignal, stop: () => void) {
    const runs = await repo.stepRuns(execution.id);
    const status = new Map(runs.map((run) => [run.stepId, run.status as string]));
    const outputs = new Map(runs.filter((run) => run.status === 'succeeded').map((run) => [run.stepId, run.output ?? '']));
    const previous = runs.find((run) => run.status === 'failed');
    let failed: { step: string; failure: { message: string } } | undefined = previous
      ? { step: previous.stepId, failure: { message: previous.error?.message ?? 'failed' } }
      : undefined;
    const context = { execution, caller, values: { input: execution.input, outputs } };
    const inflight = new Map<string, Promise<{ id: string; outcome: StepOutcome }>>();
    try {
      for (;;) {
        if (!failed && !signal.aborted) {
          for (const step of compiled.steps) {
            const id = step.definition.id;
            if (status.get(id) !== 'pending' || inflight.has(id)) continue;
            if (!step.dependsOn.every((dependency) => status.get(dependency) === 'succeeded')) continue;
            status.set(id, 'running');
            inflight.set(
              id,
              runOne(execution, step, context, signal).then((outcome) => ({ id, outcome })),
            );
          }
        }
        if (inflight.size === 0) break;
        const { id, outcome } = await Promise.race(inflight.values());
        inflight.delete(id);
        if (outcome.kind === 'succeeded') {
          status.set(id, 'succeeded');
          outputs.set(id, outcome.output);
        } else if (outcome.kind === 'failed') {
          status.set(id, 'failed');
          failed ??= { step: id, failure: outcome.failure };
        } else status.set(id, 'stopped');
      }
    } catch (error) {
      // A write failed (the database away): let the rest stop, and the queue retry the whole run.
      stop();
      await Promise.allSettled(inflight.values());
      throw error;
    }
    if (signal.aborted) return;
    if (failed) {
      for (const skipped of await repo.closeSteps(execution.id, 'skipped', ['pending'])) await progress.step(execution, skipped);
      await finish(execution, {
        status: 'failed',
        error: { code: 'step_failed', message: `Step "${failed.step}" failed: ${failed.failure.message}` },
      });
      return;
    }
    // Something stopped a step without a cancel reaching this instance yet: the database says what happened.
    if (compiled.steps.some((step) => status.get(step.definition.id) !== 'succeeded')) return;
    let output: string;
    try {
      output = renderTemplate(compiled.output, { input: execution.input, outputs });
    } catch (error) {
      if (!(error instanceof TemplateTooLargeError)) throw error;
      await finish(execution, { status: 'failed', error: { code: 'output_too_large', message: error.message } });
      return;
    }
    await finish(execution, { status: 'succeeded', output });
  }

  return {
    /**
     * The job handler: runs (or, after a take-over, resumes) the execution. Returns when it
     * finished, was cancelled or let go; throws when the database failed under it (the queue
     * retries), and on the last attempt marks the execution failed first.
     */
    async run(job: QueuedJob<ExecutionJob>): Promise<void> {
      await listen();
      const id = job.data.executionId;
      try {
        let execution = await repo.execution(id);
        if (!execution || !activeStatuses.includes(execution.status)) return;
        const version = await repo.version(execution.pipelineId, execution.version);
        const compiled = version ? compilePipeline(version.steps as StepDefinition[], version.output) : undefined;
        if (!compiled || Array.isArray(compiled)) {
          return finish(execution, {
            status: 'failed',
            error: { code: 'internal_error', message: 'The definition of this execution is unreadable' },
          });
        }
        const user = await deps.findUser(execution.userId);
        if (!user || user.disabled) {
          return finish(execution, {
            status: 'failed',
            error: { code: 'forbidden', message: 'The owner of this execution may no longer run it' },
          });
        }
        // Started with an API key: it runs as that key, and not at all once the key is revoked or expired.
        const standing = execution.apiKeyId ? await deps.keyStanding(execution.apiKeyId) : undefined;
        if (standing && !standing.ok) {
          return finish(execution, {
            status: 'failed',
            error: { code: 'unauthorized', message: `The API key this execution was started with was ${standing.reason}` },
          });
        }
        const caller = callerOf(user, execution.apiKeyId && standing?.ok ? { id: execution.apiKeyId, standing } : undefined);
        // Steps left running were the work of an instance that is gone: they run again.
        await repo.resetRunning(id);
        const started = await repo.startExecution(id);
        if (!started) return;
        execution = started;
        await progress.running(execution);
        const controller = new AbortController();
        running.set(id, controller);
        const letGo = () => controller.abort(released);
        job.signal.addEventListener('abort', letGo, { once: true });
        if (job.signal.aborted) letGo();
        try {
          await runGraph(execution, compiled, caller, controller.signal, letGo);
        } finally {
          running.delete(id);
          job.signal.removeEventListener('abort', letGo);
        }
      } catch (error) {
        log.warn('a pipeline execution run failed', { executionId: id, attempt: job.attempt, error: (error as Error).message });
        if (job.attempt >= job.maxAttempts && !job.signal.aborted) {
          const execution = await repo.execution(id).catch(() => undefined);
          if (execution) {
            await finish(execution, {
              status: 'failed',
              error: { code: 'unavailable', message: 'The execution could not be run (a store was unavailable)' },
            }).catch(() => undefined);
          }
        }
        throw error;
      }
    },

    /** Stops the execution's work on whichever instance runs it (the caller has marked it cancelled). */
    async stop(executionId: string): Promise<void> {
      running.get(executionId)?.abort(cancelled);
      await kv.publish(cancelChannel, executionId).catch((error) => {
        log.warn('could not announce a pipeline cancel', { executionId, error: (error as Error).message });
      });
    },

    /** Executions this instance runs right now. */
    activeCount: () => running.size,
  };
}

export type Engine = ReturnType<typeof createEngine>;
