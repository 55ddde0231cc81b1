// Rows as the API shows them (model.ts's PipelineView, ExecutionView, StepRunView).
import type { CompiledPipeline, StepDefinition } from './definition.ts';
import type { ExecutionRow, PipelineRow, StepRunRow, VersionRow } from './repository.ts';

const iso = (date: Date | null) => (date ? date.toISOString() : null);
const duration = (from: Date | null, to: Date | null) => (from && to ? Math.max(0, to.getTime() - from.getTime()) : null);

export function pipelineView(row: PipelineRow, version: VersionRow, compiled: CompiledPipeline) {
  return {
    id: row.id,
    name: version.name,
    description: version.description,
    version: version.version,
    steps: version.steps as StepDefinition[],
    output: version.output,
    inputs: compiled.inputs,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function stepRunView(row: StepRunRow) {
  return {
    id: row.stepId,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    output: row.output,
    error: row.error,
    usage:
      row.inputTokens === null && row.outputTokens === null
        ? null
        : { inputTokens: row.inputTokens ?? 0, outputTokens: row.outputTokens ?? 0 },
    provider: row.provider,
    model: row.model,
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    durationMs: duration(row.startedAt, row.finishedAt),
  };
}
export type StepRunView = ReturnType<typeof stepRunView>;

export function executionView(row: ExecutionRow, steps: StepRunRow[]) {
  return {
    id: row.id,
    pipelineId: row.pipelineId,
    version: row.version,
    status: row.status,
    input: row.input,
    output: row.output,
    error: row.error,
    usage: {
      inputTokens: steps.reduce((sum, step) => sum + (step.inputTokens ?? 0), 0),
      outputTokens: steps.reduce((sum, step) => sum + (step.outputTokens ?? 0), 0),
    },
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    durationMs: duration(row.startedAt, row.finishedAt),
    steps: steps.map(stepRunView),
  };
}
export type ExecutionView = ReturnType<typeof executionView>;
