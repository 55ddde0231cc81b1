import { canonicalProvider } from '../../config/vocabulary.ts';
import type { UserCaller } from '../../http/auth.ts';
import { AppError, conflict, invalid, invalidFields, notFound } from '../../http/errors.ts';
import { isEventId } from '../../http/event-id.ts';
import type { Metrics } from '../../http/metrics.ts';
import { decodeCursor, isString, type Page, toPage } from '../../http/pagination.ts';
import { streamAsSse } from '../../http/sse.ts';
import type { Infra } from '../../infra/index.ts';
import type { StreamBuffers } from '../../infra/kv/stream-buffers.ts';
import type { JobQueue } from '../../infra/queue/index.ts';
import type { AuthService } from '../auth/service.ts';
import type { UserEvents } from '../realtime/service.ts';
import type { RepliesService } from '../replies/service.ts';
import type { UsersService } from '../users/service.ts';
import { type CompiledPipeline, compileOrThrow, definitionError, type StepDefinition } from './definition.ts';
import { createEngine, type ExecutionJob } from './engine.ts';
import type { PipelineStepBody } from './model.ts';
import { createProgress } from './progress.ts';
import { activeStatuses, createPipelinesRepository, type PipelineRow } from './repository.ts';
import { createStepRunner, type PipelineSources } from './steps.ts';
import { type ExecutionView, executionView, pipelineView } from './views.ts';

export type { PipelineSources } from './steps.ts';

export type PipelinesDeps = {
  replies: RepliesService;
  users: UsersService;
  auth: Pick<AuthService, 'keyStanding'>;
  events: UserEvents;
  buffers: StreamBuffers;
  metrics: Metrics;
  /** Where `file` and `transcribe` steps read (the files and voice services); without them those steps fail. */
  sources?: PipelineSources;
};

type DefinitionFields = { name: string; description?: string | null; steps: PipelineStepBody[]; output?: string | null };

// A run that fails for want of a store (the database away) is retried this often by the queue.
const jobAttempts = 3;
const jobBackoffMs = 2000;
// Executions re-queued at start-up at most (those still queued or running from before).
const recoverLimit = 1000;

/**
 * Pipelines: definitions (versioned: an execution runs the version it started with), executions
 * run by the engine on the job queue (BullMQ with REDIS_URL, else in process), their progress as
 * SSE and websocket events, and cancel from any instance.
 */
export function createPipelinesService(infra: Infra, deps: PipelinesDeps) {
  const { config, log } = infra;
  const repo = createPipelinesRepository(infra.db);
  const progress = createProgress({ buffers: deps.buffers, events: deps.events, log, ttlSeconds: config.streamTtlSeconds });
  const stepSeconds = deps.metrics.histogram('parley_pipeline_step_duration_seconds', 'Pipeline step attempts, by type and outcome', [
    'type',
    'outcome',
  ]);
  const stepOutcomes = new Map<string, number>();
  const engine = createEngine(infra, {
    repo,
    progress,
    runStep: createStepRunner({ replies: deps.replies, sources: deps.sources ?? {}, config }),
    findUser: (id) => deps.users.findById(id),
    keyStanding: (id) => deps.auth.keyStanding(id),
    observe(type, outcome, seconds) {
      stepSeconds.observe([type, outcome], seconds);
      const key = `${type}\n${outcome}`;
      stepOutcomes.set(key, (stepOutcomes.get(key) ?? 0) + 1);
    },
  });
  let queue: JobQueue<ExecutionJob> | undefined;
  const jobs = () =>
    (queue ??= infra.queues.open<ExecutionJob>('pipelines', {
      concurrency: config.pipelines.concurrency,
      attempts: jobAttempts,
      backoffMs: jobBackoffMs,
      stallMs: config.pipelines.stallMs,
    }));

  /** Checks a definition, and that each LLM step's provider and model are offered; throws its 422. */
  const check = async (fields: DefinitionFields): Promise<CompiledPipeline> => {
    const compiled = compileOrThrow(fields.steps, fields.output);
    const problems = [];
    for (const [index, step] of fields.steps.entries()) {
      if (step.type !== 'llm') continue;
      try {
        await deps.replies.resolveModel({ provider: step.provider, model: step.model });
      } catch (error) {
        if (!(error instanceof AppError) || error.code !== 'validation_error') throw error;
        const name = step.model && !step.provider ? 'model' : 'provider';
        problems.push({ field: `body.steps.${index}.${name}`, message: `step "${step.id}": ${error.message}`, step: step.id });
      }
    }
    if (problems.length > 0) throw definitionError(problems);
    return compiled;
  };

  const owned = async (userId: string, id: string) => {
    const row = await repo.findOwned(userId, id);
    if (!row) throw notFound('Pipeline');
    const version = await repo.version(row.id, row.version);
    if (!version) throw notFound('Pipeline');
    return { row, version, compiled: compileOrThrow(version.steps as StepDefinition[], version.output) };
  };
  const view = async (row: PipelineRow) => {
    const version = await repo.version(row.id, row.version);
    if (!version) throw notFound('Pipeline');
    return pipelineView(row, version, compileOrThrow(version.steps as StepDefinition[], version.output));
  };
  const ownedExecution = async (userId: string, id: string) => {
    const execution = await repo.executionOwned(userId, id);
    if (!execution) throw notFound('Pipeline execution');
    return execution;
  };

  /** Re-queues what was queued or running before this instance started (a job id already queued is not added twice). */
  const recover = async () => {
    try {
      for (const { id } of await repo.unfinished(recoverLimit)) await jobs().add(id, { executionId: id });
    } catch (error) {
      log.warn('could not re-queue unfinished pipeline executions', { error: (error as Error).message });
    }
  };

  /** Steps as stored: a provider named by an alias (`claude`) under its own name. */
  const canonicalSteps = (steps: PipelineStepBody[]) =>
    steps.map((step) => (step.provider ? { ...step, provider: canonicalProvider(step.provider) ?? step.provider } : step));

  const service = {
    async create(userId: string, body: DefinitionFields) {
      const compiled = await check(body);
      const id = Bun.randomUUIDv7();
      const fields = {
        name: body.name,
        description: body.description ?? null,
        steps: canonicalSteps(body.steps),
        output: body.output ?? null,
      };
      const row = await infra.db.transaction((tx) =>
        repo
          .with(tx)
          .insertPipeline({ id, userId, name: fields.name, description: fields.description }, { pipelineId: id, version: 1, ...fields }),
      );
      return pipelineView(row, { pipelineId: id, version: 1, createdAt: row.createdAt, ...fields }, compiled);
    },

    async list(userId: string, query: { limit?: number; cursor?: string }): Promise<Page<Awaited<ReturnType<typeof view>>>> {
      const limit = query.limit ?? 20;
      const before = decodeCursor(query.cursor, isString);
      const rows = await repo.list(userId, limit + 1, before);
      const page = toPage(
        rows,
        limit,
        (row) => row.id,
        (row) => row,
      );
      return { data: await Promise.all(page.data.map(view)), nextCursor: page.nextCursor };
    },

    async get(userId: string, id: string) {
      const { row, version, compiled } = await owned(userId, id);
      return pipelineView(row, version, compiled);
    },

    /** A new version from the fields given over the current ones; executions already started keep theirs. */
    async update(userId: string, id: string, patch: Partial<DefinitionFields>) {
      const { row, version } = await owned(userId, id);
      const fields = {
        name: patch.name ?? version.name,
        description: patch.description === undefined ? version.description : patch.description,
        steps: patch.steps ? canonicalSteps(patch.steps) : (version.steps as PipelineStepBody[]),
        output: patch.output === undefined ? version.output : patch.output,
      };
      await check(fields);
      const updated = await infra.db.transaction((tx) => repo.with(tx).addVersion(row.id, row.version, fields));
      if (!updated) throw conflict('The pipeline was changed by another request at the same time; read it again and retry');
      return view(updated);
    },

    /** Hides the definition; its executions (running ones included) go on and stay readable. */
    async remove(userId: string, id: string): Promise<void> {
      if (!(await repo.softDelete(userId, id))) throw notFound('Pipeline');
    },

    /** Queues an execution of the current version with `input`; 422 naming each input the templates need and did not get. */
    /** Queues a run of the pipeline's current version for `caller`, as the API key it called with, if any (see the engine's callerOf). */
    async execute(caller: UserCaller, ip: string, pipelineId: string, given: Record<string, string | number | boolean> = {}) {
      const userId = caller.user.id;
      const { row, compiled } = await owned(userId, pipelineId);
      const missing = compiled.inputs.filter((name) => given[name] === undefined);
      if (missing.length > 0) {
        throw invalidFields(
          missing.map((name) => ({ field: `body.input.${name}`, message: 'is used by the pipeline’s templates and was not given' })),
          `Missing input: ${missing.join(', ')}`,
        );
      }
      const input = Object.fromEntries(Object.entries(given).map(([name, value]) => [name, String(value)]));
      const id = Bun.randomUUIDv7();
      const execution = {
        id,
        pipelineId: row.id,
        version: row.version,
        userId,
        apiKeyId: caller.apiKeyId,
        status: 'queued' as const,
        input,
        streamId: Bun.randomUUIDv7(),
        ip,
      };
      await infra.db.transaction((tx) =>
        repo.with(tx).insertExecution(
          execution,
          compiled.steps.map((step, position) => ({ executionId: id, stepId: step.definition.id, position, type: step.type })),
        ),
      );
      try {
        const stored = await repo.execution(id);
        await progress.open(stored!);
        await jobs().add(id, { executionId: id });
      } catch (error) {
        // Not queued: nothing will run it, so it is not kept.
        await repo
          .deleteExecution(id)
          .catch((cause) => log.warn('could not remove an execution that was not queued', { id, error: String(cause) }));
        throw error;
      }
      // This instance runs executions too (the server starts its worker at boot; a test app on first use).
      service.start();
      return { executionId: id, status: 'queued' as const };
    },

    async execution(userId: string, id: string): Promise<ExecutionView> {
      const execution = await ownedExecution(userId, id);
      return executionView(execution, await repo.stepRuns(id));
    },

    /**
     * Cancels a queued or running execution (409 once it has ended): it is stored cancelled with
     * every step not finished, and the steps running anywhere stop (their model calls are aborted).
     */
    async cancel(userId: string, id: string): Promise<ExecutionView> {
      const execution = await ownedExecution(userId, id);
      if (!activeStatuses.includes(execution.status)) throw conflict(`This execution has ${execution.status} already`);
      const before = await repo.stepRuns(id);
      const done = await repo.finishExecution(id, { status: 'cancelled' });
      if (!done) {
        const now = await repo.execution(id);
        throw conflict(`This execution has ${now?.status ?? 'ended'} already`);
      }
      const closed = await repo.closeSteps(id, 'cancelled', ['pending', 'running']);
      await Promise.all(
        before
          .filter((step) => step.status === 'running' && step.messageId)
          .map((step) =>
            deps.replies.cancel(step.messageId!).catch((error) => log.warn('could not cancel a step’s reply', { error: String(error) })),
          ),
      );
      await engine.stop(id);
      for (const step of closed) await progress.step(done, step);
      return progress.finish(done, await repo.stepRuns(id));
    },

    /** The execution's progress as SSE: replay after `afterId`, then live until `done`. */
    async events(userId: string, id: string, afterId?: string): Promise<Response> {
      const execution = await ownedExecution(userId, id);
      if (!(await deps.buffers.meta(execution.streamId))) {
        // The buffer outlived its TTL: written again from the database.
        const ended = !activeStatuses.includes(execution.status);
        await progress.replay(execution, await repo.stepRuns(id), ended);
      }
      return streamAsSse(deps.buffers, execution.streamId, { afterId });
    },

    /** An `after` id must be one of ours in form: anything else is a 422, not a silent replay. */
    checkAfter(after: string | undefined, field: string): string | undefined {
      if (after === undefined || after === '') return undefined;
      if (!isEventId(after)) throw invalid(field, 'is not an event id of this stream');
      return after;
    },

    /** Starts running executions on this instance (once), and re-queues those left unfinished. */
    start(): void {
      const queue = jobs();
      if (queue.working) return;
      queue.work((job) => engine.run(job));
      void recover();
    },

    /** Shutdown: stop taking executions; running ones get `graceMs` to finish, then are handed back to the queue. */
    async drain(graceMs: number): Promise<void> {
      await queue?.close(graceMs);
    },

    /** Queue depth (every instance's, on BullMQ) for /metrics; zeros when it cannot be read. */
    async queueCounts() {
      return jobs()
        .counts()
        .catch(() => ({ waiting: 0, active: 0, delayed: 0 }));
    },
    jobOutcomes: () => queue?.outcomes() ?? { completed: 0, failed: 0, retried: 0, released: 0 },
    stepOutcomes: () =>
      [...stepOutcomes].map(([key, value]) => {
        const [type, outcome] = key.split('\n') as [string, string];
        return [{ type, outcome }, value] as [Record<string, string>, number];
      }),
    activeCount: engine.activeCount,
  };
  return service;
}

export type PipelinesService = ReturnType<typeof createPipelinesService>;
