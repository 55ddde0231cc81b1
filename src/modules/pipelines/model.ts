import { t } from 'elysia';
import { eventIdPattern } from '../../http/event-id.ts';
import { pageQuery } from '../../http/pagination.ts';

const Time = t.String({ format: 'date-time' });
const templateMaxChars = 100_000;
const stepIdPattern = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';
const template = (description: string) => t.Optional(t.String({ minLength: 1, maxLength: templateMaxChars, description }));

/**
 * One step. Every step has an `id` and a `type`; the other fields depend on the type (a field
 * another type takes is refused, naming the step). Text fields marked "template" may hold
 * `{{input.<name>}}` and `{{steps.<id>.output}}`.
 */
export const PipelineStep = t.Object(
  {
    id: t.String({
      pattern: stepIdPattern,
      maxLength: 64,
      description: 'Unique within the pipeline: a letter, then letters, digits, _ or -',
    }),
    type: t.String({
      minLength: 1,
      maxLength: 32,
      description:
        '`llm` (prompt, system?, provider?, model?, temperature?, maxTokens?), `template` (template), `file` (fileId, maxChars?: the text of one of your files) or `transcribe` (fileId: speech to text of an uploaded audio file)',
    }),
    dependsOn: t.Optional(
      t.Array(t.String({ maxLength: 64 }), {
        maxItems: 50,
        description: 'Steps to wait for beyond those the templates name',
      }),
    ),
    timeoutMs: t.Optional(t.Integer({ minimum: 100, maximum: 3_600_000, description: 'Per attempt (default PIPELINE_STEP_TIMEOUT_MS)' })),
    retries: t.Optional(t.Integer({ minimum: 0, maximum: 10, description: 'Retries after a failure (default PIPELINE_STEP_RETRIES)' })),
    prompt: template('llm: the user message (template)'),
    system: template('llm: the system prompt (template)'),
    provider: t.Optional(t.String({ minLength: 1, maxLength: 64, description: 'llm: default DEFAULT_PROVIDER' })),
    model: t.Optional(t.String({ minLength: 1, maxLength: 200, description: 'llm: default the provider’s default' })),
    temperature: t.Optional(t.Number({ minimum: 0, maximum: 2, description: 'llm: default TEMPERATURE' })),
    maxTokens: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000, description: 'llm: default MAX_TOKENS' })),
    template: template('template: the text this step outputs (template)'),
    fileId: t.Optional(
      t.String({ minLength: 1, maxLength: 500, description: 'file, transcribe: one of your files (template, e.g. {{input.file}})' }),
    ),
    maxChars: t.Optional(t.Integer({ minimum: 1, maximum: 1_000_000, description: 'file: at most this many characters (default 100000)' })),
  },
  { additionalProperties: false },
);
export type PipelineStepBody = typeof PipelineStep.static;

const Steps = t.Array(PipelineStep, { minItems: 1, maxItems: 50 });
const Name = t.String({ minLength: 1, maxLength: 200 });
const Description = t.String({ maxLength: 2000 });
const Output = t.String({
  minLength: 1,
  maxLength: templateMaxChars,
  description: 'Template of the execution’s output (default: the last step’s output)',
});

export const CreatePipelineBody = t.Object(
  { name: Name, description: t.Optional(Description), steps: Steps, output: t.Optional(Output) },
  { additionalProperties: false },
);
export const UpdatePipelineBody = t.Object(
  {
    name: t.Optional(Name),
    description: t.Optional(t.Union([Description, t.Null()])),
    steps: t.Optional(Steps),
    output: t.Optional(t.Union([Output, t.Null()])),
  },
  { additionalProperties: false },
);

export const PipelineParams = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });
export const ListPipelinesQuery = pageQuery({});

export const PipelineView = t.Object({
  id: t.String(),
  name: t.String(),
  description: t.Union([t.String(), t.Null()]),
  version: t.Integer({ description: 'Raised by every PATCH; running executions keep the version they started with' }),
  steps: t.Array(PipelineStep),
  output: t.Union([t.String(), t.Null()]),
  inputs: t.Array(t.String(), { description: 'The input names the templates use: POST …/execute must give each' }),
  createdAt: Time,
  updatedAt: Time,
});

const InputValue = t.Union([
  t.String({ maxLength: 200_000 }),
  t.Number({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER }),
  t.Boolean(),
]);
export const ExecuteBody = t.Object(
  {
    input: t.Optional(
      t.Record(t.String({ pattern: '^[A-Za-z_][A-Za-z0-9_-]{0,63}$' }), InputValue, {
        additionalProperties: false,
        maxProperties: 100,
        description: 'A value for each of the pipeline’s `inputs` (numbers and booleans are used as text)',
      }),
    ),
  },
  { additionalProperties: false },
);
export const ExecutionStarted = t.Object({ executionId: t.String(), status: t.Literal('queued') });

export const executionStatuses = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export const stepStatuses = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
const ErrorInfo = t.Union([t.Object({ code: t.String(), message: t.String() }), t.Null()]);
const Usage = t.Union([t.Object({ inputTokens: t.Integer(), outputTokens: t.Integer() }), t.Null()]);

export const StepRunView = t.Object({
  id: t.String(),
  type: t.String(),
  status: t.UnionEnum(stepStatuses),
  attempts: t.Integer({ description: 'Attempts started (a retry, or a take-over after an instance died, starts another)' }),
  output: t.Union([t.String(), t.Null()]),
  error: ErrorInfo,
  usage: Usage,
  provider: t.Union([t.String(), t.Null()]),
  model: t.Union([t.String(), t.Null()]),
  startedAt: t.Union([Time, t.Null()]),
  finishedAt: t.Union([Time, t.Null()]),
  durationMs: t.Union([t.Integer(), t.Null()]),
});

const executionFields = {
  id: t.String(),
  pipelineId: t.String(),
  version: t.Integer(),
  status: t.UnionEnum(executionStatuses),
  input: t.Record(t.String(), t.String()),
  output: t.Union([t.String(), t.Null()]),
  error: ErrorInfo,
  usage: t.Object({ inputTokens: t.Integer(), outputTokens: t.Integer() }, { description: 'Summed over the LLM steps' }),
  createdAt: Time,
  startedAt: t.Union([Time, t.Null()]),
  finishedAt: t.Union([Time, t.Null()]),
  durationMs: t.Union([t.Integer(), t.Null()]),
};
export const ExecutionView = t.Object({ ...executionFields, steps: t.Array(StepRunView) });

export const ExecutionParams = t.Object({ id: t.String({ minLength: 1, maxLength: 64 }) });
export const EventsQuery = t.Object({
  after: t.Optional(t.String({ maxLength: 64, pattern: eventIdPattern, description: 'Resume after this event id' })),
});
