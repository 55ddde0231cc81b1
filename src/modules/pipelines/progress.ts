// What an execution tells its watchers: events in its stream buffer (GET …/events, resumable with
// Last-Event-ID from any instance) and `pipeline.updated` on the owner's websockets. Best effort:
// the database is the record, so a lost event is logged, never the execution's failure.
import type { StreamBuffers } from '../../infra/kv/stream-buffers.ts';
import type { Logger } from '../../infra/log/index.ts';
import type { UserEvents } from '../realtime/service.ts';
import type { ExecutionRow, StepRunRow } from './repository.ts';
import { type ExecutionView, executionView, stepRunView } from './views.ts';

export type ProgressDeps = { buffers: StreamBuffers; events: UserEvents; log: Logger; ttlSeconds: number };

/**
 * SSE events of an execution: `execution` {executionId, pipelineId, status} when it is queued or
 * starts running, `step` (a StepRunView) each time a step changes, and last `done` {executionId,
 * status, output, error, usage} once it has succeeded, failed or been cancelled; then the stream ends.
 */
export function createProgress({ buffers, events, log, ttlSeconds }: ProgressDeps) {
  const append = async (execution: ExecutionRow, event: string, payload: unknown) => {
    try {
      await buffers.append(execution.streamId, event, JSON.stringify(payload), ttlSeconds);
    } catch (error) {
      log.warn('could not record a pipeline event', { executionId: execution.id, event, error: (error as Error).message });
    }
  };
  const notify = (execution: ExecutionRow, status: string, step: StepRunRow | null) =>
    events.publish(execution.userId, {
      type: 'pipeline.updated',
      pipelineId: execution.pipelineId,
      executionId: execution.id,
      status,
      step: step ? { id: step.stepId, status: step.status } : null,
    });
  const statusEvent = (execution: ExecutionRow) => ({
    executionId: execution.id,
    pipelineId: execution.pipelineId,
    status: execution.status,
  });

  return {
    /** Opens the stream of a new execution with its `queued` event; throws when the KV is away. */
    async open(execution: ExecutionRow): Promise<void> {
      await buffers.create(execution.streamId, { ownerId: execution.userId, kind: 'generation', ttlSeconds });
      await buffers.append(execution.streamId, 'execution', JSON.stringify(statusEvent(execution)), ttlSeconds);
      await notify(execution, execution.status, null);
    },

    /** The execution started running (or was taken over): also renews its stream's lease on life for a long run. */
    async running(execution: ExecutionRow): Promise<void> {
      await buffers
        .create(execution.streamId, { ownerId: execution.userId, kind: 'generation', ttlSeconds })
        .catch((error) => log.warn('could not renew a pipeline stream', { executionId: execution.id, error: (error as Error).message }));
      await append(execution, 'execution', statusEvent(execution));
      await notify(execution, execution.status, null);
    },

    async step(execution: ExecutionRow, step: StepRunRow): Promise<void> {
      await append(execution, 'step', stepRunView(step));
      await notify(execution, execution.status, step);
    },

    /** The last event: `done` with the outcome; the stream ends. */
    async finish(execution: ExecutionRow, steps: StepRunRow[]): Promise<ExecutionView> {
      const view = executionView(execution, steps);
      await append(execution, 'done', {
        executionId: view.id,
        status: view.status,
        output: view.output,
        error: view.error,
        usage: view.usage,
      });
      await buffers
        .end(execution.streamId, ttlSeconds)
        .catch((error) => log.warn('could not end a pipeline stream', { executionId: execution.id, error: (error as Error).message }));
      await notify(execution, execution.status, null);
      return view;
    },

    /** Writes an execution's events again into a fresh stream (its buffer expired): one `step` per step, then `done` once it has `ended`. */
    async replay(execution: ExecutionRow, steps: StepRunRow[], ended: boolean): Promise<void> {
      const { streamId } = execution;
      await buffers.create(streamId, { ownerId: execution.userId, kind: 'generation', ttlSeconds });
      for (const step of steps) await buffers.append(streamId, 'step', JSON.stringify(stepRunView(step)), ttlSeconds);
      if (!ended) return;
      const view = executionView(execution, steps);
      const done = { executionId: view.id, status: view.status, output: view.output, error: view.error, usage: view.usage };
      await buffers.append(streamId, 'done', JSON.stringify(done), ttlSeconds);
      await buffers.end(streamId, ttlSeconds);
    },
  };
}

export type Progress = ReturnType<typeof createProgress>;
