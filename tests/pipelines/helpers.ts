// Shared by the pipeline suites: define, run and wait for pipelines over HTTP.
import type { Json, Target } from '../helpers/client.ts';
import { bearer, expectStatus, httpOf } from '../helpers/client.ts';
import { waitUntil } from '../helpers/wait.ts';

export const terminal = ['succeeded', 'failed', 'cancelled'];

export async function definePipeline(target: Target, token: string, body: Json): Promise<Json> {
  return expectStatus(await httpOf(target)('/api/v1/pipelines', { method: 'POST', headers: bearer(token), json: body }), 201);
}

export async function executePipeline(
  target: Target,
  token: string,
  pipelineId: string,
  input: Json = {},
  headers: Record<string, string> = {},
) {
  const response = await httpOf(target)(`/api/v1/pipelines/${pipelineId}/execute`, {
    method: 'POST',
    headers: { ...bearer(token), ...headers },
    json: { input },
  });
  return (await expectStatus(response, 202)).executionId as string;
}

export async function getExecution(target: Target, token: string, executionId: string): Promise<Json> {
  return expectStatus(await httpOf(target)(`/api/v1/pipeline-executions/${executionId}`, { headers: bearer(token) }), 200);
}

/** Polls the execution until `check` holds (default: it has ended); returns it. */
export function waitForExecution(
  target: Target,
  token: string,
  executionId: string,
  check: (execution: Json) => boolean = (execution) => terminal.includes(execution.status),
  timeoutMs = 30_000,
): Promise<Json> {
  return waitUntil(
    async () => {
      const execution = await getExecution(target, token, executionId);
      return check(execution) ? execution : undefined;
    },
    `execution ${executionId} to reach the expected state`,
    timeoutMs,
    50,
  );
}

export const stepOf = (execution: Json, id: string): Json => execution.steps.find((step: Json) => step.id === id);

export const eventsOf = (target: Target, token: string, executionId: string, headers: Record<string, string> = {}) =>
  httpOf(target)(`/api/v1/pipeline-executions/${executionId}/events`, { headers: { ...bearer(token), ...headers } });
