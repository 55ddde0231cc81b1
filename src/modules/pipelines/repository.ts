import { and, asc, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Database, Tx } from '../../infra/db/index.ts';
import { repository } from '../../infra/db/repository.ts';

export type PipelineRow = Database['tables']['pipelines']['$inferSelect'];
export type VersionRow = Database['tables']['pipelineVersions']['$inferSelect'];
export type ExecutionRow = Database['tables']['pipelineExecutions']['$inferSelect'];
export type StepRunRow = Database['tables']['pipelineStepRuns']['$inferSelect'];
export type ExecutionStatus = ExecutionRow['status'];
export type StepStatus = StepRunRow['status'];
export type RunError = { code: string; message: string };

export const activeStatuses: ExecutionStatus[] = ['queued', 'running'];

/**
 * Data access for pipelines, their versions, executions and step runs. Every read a user makes
 * is scoped to them; the engine's writes are conditional on the state they move from, so a
 * cancel (on any instance) and a running step never overwrite each other.
 */
export function createPipelinesRepository(db: Database) {
  const { pipelines, pipelineVersions: versions, pipelineExecutions: executions, pipelineStepRuns: stepRuns } = db.tables;
  const stepKey = (executionId: string, stepId: string) => and(eq(stepRuns.executionId, executionId), eq(stepRuns.stepId, stepId));
  const first = <T>(rows: T[]): T | undefined => rows[0];

  return repository((tx: Tx | undefined) => ({
    async insertPipeline(pipeline: typeof pipelines.$inferInsert, version: typeof versions.$inferInsert): Promise<PipelineRow> {
      const [row] = await db.run((q) => q.insert(pipelines).values(pipeline).returning(), tx);
      await db.run((q) => q.insert(versions).values(version), tx);
      return row!;
    },

    /** Newest first (ids are UUIDv7), without deleted ones. */
    list: (userId: string, limit: number, beforeId?: string): Promise<PipelineRow[]> =>
      db.run(
        (q) =>
          q
            .select()
            .from(pipelines)
            .where(and(eq(pipelines.userId, userId), isNull(pipelines.deletedAt), beforeId ? lt(pipelines.id, beforeId) : undefined))
            .orderBy(desc(pipelines.id))
            .limit(limit),
        tx,
      ),

    findOwned: async (userId: string, id: string): Promise<PipelineRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .select()
              .from(pipelines)
              .where(and(eq(pipelines.id, id), eq(pipelines.userId, userId), isNull(pipelines.deletedAt)))
              .limit(1),
          tx,
        ),
      ),

    version: async (pipelineId: string, version: number): Promise<VersionRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .select()
              .from(versions)
              .where(and(eq(versions.pipelineId, pipelineId), eq(versions.version, version)))
              .limit(1),
          tx,
        ),
      ),

    /** Moves the pipeline from `fromVersion` to the next; undefined when another write moved it first. */
    async addVersion(
      id: string,
      fromVersion: number,
      fields: { name: string; description: string | null; steps: Record<string, unknown>[]; output: string | null },
    ): Promise<PipelineRow | undefined> {
      const version = fromVersion + 1;
      const [row] = await db.run(
        (q) =>
          q
            .update(pipelines)
            .set({ version, name: fields.name, description: fields.description, updatedAt: new Date() })
            .where(and(eq(pipelines.id, id), eq(pipelines.version, fromVersion), isNull(pipelines.deletedAt)))
            .returning(),
        tx,
      );
      if (!row) return undefined;
      await db.run((q) => q.insert(versions).values({ pipelineId: id, version, ...fields }), tx);
      return row;
    },

    async softDelete(userId: string, id: string): Promise<boolean> {
      const rows = await db.run(
        (q) =>
          q
            .update(pipelines)
            .set({ deletedAt: new Date() })
            .where(and(eq(pipelines.id, id), eq(pipelines.userId, userId), isNull(pipelines.deletedAt)))
            .returning({ id: pipelines.id }),
        tx,
      );
      return rows.length > 0;
    },

    async insertExecution(execution: typeof executions.$inferInsert, steps: (typeof stepRuns.$inferInsert)[]): Promise<void> {
      await db.run((q) => q.insert(executions).values(execution), tx);
      if (steps.length > 0) await db.run((q) => q.insert(stepRuns).values(steps), tx);
    },

    deleteExecution: (id: string) => db.run((q) => q.delete(executions).where(eq(executions.id, id)), tx),

    execution: async (id: string): Promise<ExecutionRow | undefined> =>
      first(await db.run((q) => q.select().from(executions).where(eq(executions.id, id)).limit(1), tx)),

    executionOwned: async (userId: string, id: string): Promise<ExecutionRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .select()
              .from(executions)
              .where(and(eq(executions.id, id), eq(executions.userId, userId)))
              .limit(1),
          tx,
        ),
      ),

    stepRuns: (executionId: string): Promise<StepRunRow[]> =>
      db.run((q) => q.select().from(stepRuns).where(eq(stepRuns.executionId, executionId)).orderBy(asc(stepRuns.position)), tx),

    /** Executions not finished (for re-queueing at start-up), oldest first. */
    unfinished: (limit: number): Promise<Pick<ExecutionRow, 'id'>[]> =>
      db.run(
        (q) =>
          q
            .select({ id: executions.id })
            .from(executions)
            .where(inArray(executions.status, activeStatuses))
            .orderBy(asc(executions.id))
            .limit(limit),
        tx,
      ),

    /** queued → running (a take-over finds it running already); undefined once it is finished or cancelled. */
    startExecution: async (id: string): Promise<ExecutionRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .update(executions)
              .set({
                status: 'running',
                startedAt: sql`coalesce(${executions.startedAt}, ${sql.param(new Date(), executions.startedAt)})`,
                updatedAt: new Date(),
              })
              .where(and(eq(executions.id, id), inArray(executions.status, activeStatuses)))
              .returning(),
          tx,
        ),
      ),

    /** Ends a queued or running execution; undefined when it had ended already (a cancel came first). */
    finishExecution: async (
      id: string,
      fields: { status: 'succeeded' | 'failed' | 'cancelled'; output?: string | null; error?: RunError | null },
    ): Promise<ExecutionRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .update(executions)
              .set({
                status: fields.status,
                output: fields.output ?? null,
                error: fields.error ?? null,
                finishedAt: new Date(),
                updatedAt: new Date(),
              })
              .where(and(eq(executions.id, id), inArray(executions.status, activeStatuses)))
              .returning(),
          tx,
        ),
      ),

    /** Steps left `running` by a runner that is gone go back to `pending` (a take-over runs them again). */
    resetRunning: (executionId: string) =>
      db.run(
        (q) =>
          q
            .update(stepRuns)
            .set({ status: 'pending', messageId: null, updatedAt: new Date() })
            .where(and(eq(stepRuns.executionId, executionId), eq(stepRuns.status, 'running'))),
        tx,
      ),

    /** pending → running, counting the attempt; undefined when the step is not pending (cancelled, or run already). */
    claimStep: async (executionId: string, stepId: string): Promise<StepRunRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .update(stepRuns)
              .set({
                status: 'running',
                attempts: sql`${stepRuns.attempts} + 1`,
                startedAt: new Date(),
                finishedAt: null,
                error: null,
                messageId: null,
                updatedAt: new Date(),
              })
              .where(and(stepKey(executionId, stepId), eq(stepRuns.status, 'pending')))
              .returning(),
          tx,
        ),
      ),

    setStepMessage: (executionId: string, stepId: string, messageId: string) =>
      db.run(
        (q) =>
          q
            .update(stepRuns)
            .set({ messageId })
            .where(and(stepKey(executionId, stepId), eq(stepRuns.status, 'running'))),
        tx,
      ),

    /** Ends (or, with status `pending`, puts back for a retry) a running step; undefined when it is no longer running. */
    settleStep: async (
      executionId: string,
      stepId: string,
      fields: {
        status: 'succeeded' | 'failed' | 'pending';
        output?: string | null;
        error?: RunError | null;
        provider?: string | null;
        model?: string | null;
        inputTokens?: number | null;
        outputTokens?: number | null;
      },
    ): Promise<StepRunRow | undefined> =>
      first(
        await db.run(
          (q) =>
            q
              .update(stepRuns)
              .set({
                status: fields.status,
                output: fields.output ?? null,
                error: fields.error ?? null,
                provider: fields.provider ?? null,
                model: fields.model ?? null,
                inputTokens: fields.inputTokens ?? null,
                outputTokens: fields.outputTokens ?? null,
                messageId: null,
                finishedAt: fields.status === 'pending' ? null : new Date(),
                updatedAt: new Date(),
              })
              .where(and(stepKey(executionId, stepId), eq(stepRuns.status, 'running')))
              .returning(),
          tx,
        ),
      ),

    /** Every step not run yet gets `status` (skipped after a failure, cancelled with the execution); returns them. */
    closeSteps: (executionId: string, status: 'skipped' | 'cancelled', from: StepStatus[]): Promise<StepRunRow[]> =>
      db.run(
        (q) =>
          q
            .update(stepRuns)
            .set({ status, messageId: null, finishedAt: new Date(), updatedAt: new Date() })
            .where(and(eq(stepRuns.executionId, executionId), inArray(stepRuns.status, from)))
            .returning(),
        tx,
      ),
  }));
}

export type PipelinesRepository = ReturnType<typeof createPipelinesRepository>;
