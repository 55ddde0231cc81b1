import { Elysia } from 'elysia';
import { eventStream, mayFail, noContent } from '../../http/docs.ts';
import { page } from '../../http/pagination.ts';
import type { RouteBundle } from '../../http/routes.ts';
import {
  CreatePipelineBody,
  EventsQuery,
  ExecuteBody,
  ExecutionParams,
  ExecutionStarted,
  ExecutionView,
  ListPipelinesQuery,
  PipelineParams,
  PipelineView,
  UpdatePipelineBody,
} from './model.ts';
import type { PipelinesService } from './service.ts';

const tags = ['Pipelines'];
const templates = 'Templates may use `{{input.<name>}}` and `{{steps.<id>.output}}`.';
const invalidDefinition =
  'Unknown step types, fields a type does not take, bad templates, references to steps that do not exist, cycles and unknown providers or models are 422 `validation_error`; each entry of `details` names its `field` and its `step`.';

export function pipelinesModule({ pipelines, routes }: { pipelines: PipelinesService; routes: RouteBundle }) {
  return new Elysia({ name: 'pipelines', prefix: '/api/v1' })
    .use(routes.api())
    .post(
      '/pipelines',
      async ({ caller, body, set }) => {
        set.status = 201;
        return pipelines.create(caller.user.id, body);
      },
      {
        auth: true,
        idempotent: true,
        body: CreatePipelineBody,
        response: { 201: PipelineView },
        detail: {
          tags,
          summary: 'Define a pipeline: steps of type llm, template, file or transcribe',
          description: `${templates} ${invalidDefinition}`,
        },
      },
    )
    .get('/pipelines', ({ caller, query }) => pipelines.list(caller.user.id, query), {
      auth: true,
      query: ListPipelinesQuery,
      response: { 200: page(PipelineView) },
      detail: { tags, summary: 'The caller’s pipelines, newest first' },
    })
    .get('/pipelines/:id', ({ caller, params }) => pipelines.get(caller.user.id, params.id), {
      auth: true,
      params: PipelineParams,
      response: { 200: PipelineView },
      detail: { tags, summary: 'A pipeline’s current version' },
    })
    .patch('/pipelines/:id', ({ caller, params, body }) => pipelines.update(caller.user.id, params.id, body), {
      auth: true,
      params: PipelineParams,
      body: UpdatePipelineBody,
      response: { 200: PipelineView },
      detail: {
        tags,
        summary: 'Change a pipeline: a new version (executions already started keep theirs)',
        description: `Fields left out keep their value. ${invalidDefinition}`,
        ...mayFail('conflict'),
      },
    })
    .delete(
      '/pipelines/:id',
      async ({ caller, params, set }) => {
        await pipelines.remove(caller.user.id, params.id);
        set.status = 204;
      },
      {
        auth: true,
        params: PipelineParams,
        detail: {
          tags,
          summary: 'Delete a pipeline (its executions, running ones included, go on and stay readable)',
          responses: noContent,
        },
      },
    )
    .post(
      '/pipelines/:id/execute',
      async ({ caller, ip, params, body, set }) => {
        set.status = 202;
        return pipelines.execute(caller, ip, params.id, body?.input);
      },
      {
        auth: true,
        idempotent: true,
        params: PipelineParams,
        body: ExecuteBody,
        response: { 202: ExecutionStarted },
        detail: {
          tags,
          summary: 'Run a pipeline: queued at once, run by any instance; follow it with GET /pipeline-executions/:id/events',
          description:
            'Each input the templates name must be given (422 naming `body.input.<name>`). Each LLM step is a reply: it counts against the caller’s LLM limits and usage.',
          ...mayFail('unavailable'),
        },
      },
    )
    .get('/pipeline-executions/:id', ({ caller, params }) => pipelines.execution(caller.user.id, params.id), {
      auth: true,
      params: ExecutionParams,
      response: { 200: ExecutionView },
      detail: { tags, summary: 'An execution: its status, each step’s status, output, timings, error and usage, and the output' },
    })
    .post('/pipeline-executions/:id/cancel', ({ caller, params }) => pipelines.cancel(caller.user.id, params.id), {
      auth: true,
      params: ExecutionParams,
      response: { 200: ExecutionView },
      detail: {
        tags,
        summary: 'Cancel a queued or running execution: its running model calls are aborted, on whichever instance runs them',
        description: '409 `conflict` once it has succeeded, failed or been cancelled.',
        ...mayFail('conflict'),
      },
    })
    .get(
      '/pipeline-executions/:id/events',
      async ({ caller, params, query, headers }) => {
        const lastEventId = headers['last-event-id'];
        const afterId =
          lastEventId !== undefined
            ? pipelines.checkAfter(lastEventId, 'header.last-event-id')
            : pipelines.checkAfter(query.after, 'query.after');
        return pipelines.events(caller.user.id, params.id, afterId);
      },
      {
        auth: true,
        params: ExecutionParams,
        query: EventsQuery,
        detail: {
          tags,
          summary: 'An execution’s progress as SSE, resumable with Last-Event-ID (or ?after=) from any instance',
          description:
            'Events: `execution` {executionId, pipelineId, status} when it is queued and when it starts running; `step` (a step as in GET /pipeline-executions/:id) each time a step changes; then `done` {executionId, status, output, error, usage}, and the stream ends. `: ping` comments while quiet.',
          responses: eventStream('text/event-stream of execution, step and done events'),
        },
      },
    );
}
