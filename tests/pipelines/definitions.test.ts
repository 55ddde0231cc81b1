// Pipeline definitions on every storage kind: create, list (cursor pages), read, PATCH (a new
// version), delete; every invalid definition is a 422 whose details name the step; another user's
// pipeline is a 404.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectError, expectStatus, type Json, register, testEnv } from '../helpers/client.ts';
import { definePipeline } from './helpers.ts';

const summarise = {
  name: 'Summarise',
  description: 'Two summaries and a verdict',
  steps: [
    { id: 'intro', type: 'template', template: 'About {{ input.topic }}:' },
    { id: 'short', type: 'llm', prompt: '{{steps.intro.output}} in one line', provider: 'echo', temperature: 0.2, maxTokens: 50 },
    { id: 'long', type: 'llm', prompt: '{{steps.intro.output}} at length', system: 'Be {{input.tone}}', retries: 1, timeoutMs: 5000 },
    { id: 'verdict', type: 'template', template: '{{steps.short.output}} / {{steps.long.output}}' },
  ],
};

for (const [name, kind] of kinds) {
  describe(`pipeline definitions on ${name}`, () => {
    let app: TestApp;
    beforeAll(async () => {
      app = await createTestApp(kind, testEnv);
    });
    afterAll(() => app.close());

    const create = (token: string, body: Json) => app.request('/api/v1/pipelines', { method: 'POST', headers: bearer(token), json: body });
    /** The 422 of a definition, with its details. */
    const refused = async (token: string, body: Json) => (await expectError(await create(token, body), 422, 'validation_error')).error;

    test('happy: a pipeline is created with version 1, its steps as given and the inputs its templates use', async () => {
      const user = await register(app);
      const pipeline = await definePipeline(app, user.accessToken, summarise);
      expect(pipeline).toMatchObject({
        name: 'Summarise',
        description: 'Two summaries and a verdict',
        version: 1,
        steps: summarise.steps,
        output: null,
        inputs: ['tone', 'topic'],
      });
      const read = await expectStatus(await app.request(`/api/v1/pipelines/${pipeline.id}`, { headers: bearer(user.accessToken) }), 200);
      expect(read).toEqual(pipeline);
    });

    test('happy: the list is newest first in cursor pages, and only the caller’s', async () => {
      const user = await register(app);
      const other = await register(app);
      await definePipeline(app, other.accessToken, summarise);
      const made: string[] = [];
      for (let i = 0; i < 3; i++) made.push((await definePipeline(app, user.accessToken, { ...summarise, name: `p${i}` })).id);
      const first = await expectStatus(await app.request('/api/v1/pipelines?limit=2', { headers: bearer(user.accessToken) }), 200);
      expect(first.data.map((p: Json) => p.id)).toEqual([made[2], made[1]]);
      expect(first.nextCursor).toBeString();
      const second = await expectStatus(
        await app.request(`/api/v1/pipelines?limit=2&cursor=${first.nextCursor}`, { headers: bearer(user.accessToken) }),
        200,
      );
      expect(second).toEqual({ data: [expect.objectContaining({ id: made[0] })], nextCursor: null });
      await expectError(
        await app.request('/api/v1/pipelines?cursor=nonsense', { headers: bearer(user.accessToken) }),
        422,
        'validation_error',
      );
    });

    test('happy: PATCH makes a new version from the fields given; DELETE hides the pipeline', async () => {
      const user = await register(app);
      const pipeline = await definePipeline(app, user.accessToken, summarise);
      const patched = await expectStatus(
        await app.request(`/api/v1/pipelines/${pipeline.id}`, {
          method: 'PATCH',
          headers: bearer(user.accessToken),
          json: {
            steps: [{ id: 'only', type: 'template', template: 'just {{input.x}}' }],
            output: 'out: {{steps.only.output}}',
            description: null,
          },
        }),
        200,
      );
      expect(patched).toMatchObject({
        id: pipeline.id,
        name: 'Summarise',
        description: null,
        version: 2,
        inputs: ['x'],
        output: 'out: {{steps.only.output}}',
      });
      expect(patched.steps).toEqual([{ id: 'only', type: 'template', template: 'just {{input.x}}' }]);
      const removed = await app.request(`/api/v1/pipelines/${pipeline.id}`, { method: 'DELETE', headers: bearer(user.accessToken) });
      expect(removed.status).toBe(204);
      await expectError(await app.request(`/api/v1/pipelines/${pipeline.id}`, { headers: bearer(user.accessToken) }), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/pipelines/${pipeline.id}`, { method: 'DELETE', headers: bearer(user.accessToken) }),
        404,
        'not_found',
      );
      const list = await expectStatus(await app.request('/api/v1/pipelines', { headers: bearer(user.accessToken) }), 200);
      expect(list.data).toEqual([]);
    });

    test('error: an unknown step type is refused naming the step', async () => {
      const user = await register(app);
      const error = await refused(user.accessToken, {
        name: 'x',
        steps: [
          { id: 'first', type: 'template', template: 'a' },
          { id: 'odd', type: 'shell' },
        ],
      });
      expect(error.details).toEqual([
        { field: 'body.steps.1.type', message: expect.stringContaining('"shell" is not a step type'), step: 'odd' },
      ]);
      expect(error.message).toContain('"odd"');
    });

    test('error: references to steps that do not exist, or to itself, are refused naming the step', async () => {
      const user = await register(app);
      const error = await refused(user.accessToken, {
        name: 'x',
        steps: [
          { id: 'a', type: 'llm', prompt: 'use {{steps.ghost.output}}' },
          { id: 'b', type: 'template', template: 'me: {{steps.b.output}}' },
          { id: 'c', type: 'template', template: 'ok', dependsOn: ['nobody'] },
        ],
        output: '{{steps.phantom.output}}',
      });
      expect(error.details).toEqual([
        { field: 'body.steps.0.prompt', message: expect.stringContaining('no step "ghost"'), step: 'a' },
        { field: 'body.steps.1.template', message: expect.stringContaining('its own output'), step: 'b' },
        { field: 'body.steps.2.dependsOn', message: expect.stringContaining('"nobody"'), step: 'c' },
        { field: 'body.output', message: expect.stringContaining('no step "phantom"') },
      ]);
    });

    test('error: a cycle is refused naming every step on it', async () => {
      const user = await register(app);
      const error = await refused(user.accessToken, {
        name: 'x',
        steps: [
          { id: 'start', type: 'template', template: 'go' },
          { id: 'ping', type: 'template', template: '{{steps.pong.output}} {{steps.start.output}}' },
          { id: 'pong', type: 'llm', prompt: '{{steps.ping.output}}' },
        ],
      });
      expect(error.details.map((d: Json) => d.step).sort()).toEqual(['ping', 'pong']);
      for (const detail of error.details) expect(detail.message).toMatch(/cycle: (ping → pong → ping|pong → ping → pong)/);
    });

    test('error: bad templates, missing and foreign fields, repeated ids are refused naming the step', async () => {
      const user = await register(app);
      const error = await refused(user.accessToken, {
        name: 'x',
        steps: [
          { id: 'open', type: 'template', template: 'hello {{input.name' },
          { id: 'weird', type: 'llm', prompt: 'hello {{ user.name }}' },
          { id: 'empty', type: 'llm', system: 'no prompt' },
          { id: 'mixed', type: 'template', template: 'fine', prompt: 'not for templates' },
          { id: 'open', type: 'file', fileId: 'f1' },
        ],
      });
      expect(error.details).toEqual([
        { field: 'body.steps.4.id', message: expect.stringContaining('repeats'), step: 'open' },
        { field: 'body.steps.0.template', message: expect.stringContaining('never closed'), step: 'open' },
        { field: 'body.steps.1.prompt', message: expect.stringContaining('{{user.name}}'), step: 'weird' },
        { field: 'body.steps.2.prompt', message: expect.stringContaining('needs "prompt"'), step: 'empty' },
        { field: 'body.steps.3.prompt', message: expect.stringContaining('takes no "prompt"'), step: 'mixed' },
      ]);
    });

    test('error: an LLM step naming a provider or model that is not offered is refused naming the step', async () => {
      const user = await register(app);
      const error = await refused(user.accessToken, {
        name: 'x',
        steps: [
          { id: 'fine', type: 'llm', prompt: 'a' },
          { id: 'nowhere', type: 'llm', prompt: 'a', provider: 'nowhere' },
          { id: 'nomodel', type: 'llm', prompt: 'a', provider: 'echo', model: 'gpt-17' },
        ],
      });
      expect(error.details).toEqual([
        { field: 'body.steps.1.provider', message: expect.stringContaining('step "nowhere"'), step: 'nowhere' },
        { field: 'body.steps.2.provider', message: expect.stringContaining('step "nomodel"'), step: 'nomodel' },
      ]);
    });

    test('error: the shape is checked too (no steps, a bad id, an unknown field)', async () => {
      const user = await register(app);
      await refused(user.accessToken, { name: 'x', steps: [] });
      await refused(user.accessToken, { name: 'x', steps: [{ id: '1st', type: 'template', template: 'a' }] });
      const unknown = await refused(user.accessToken, { name: 'x', steps: [{ id: 'a', type: 'template', template: 'a', colour: 'red' }] });
      expect(JSON.stringify(unknown.details)).toContain('body.steps.0');
      await refused(user.accessToken, { steps: [{ id: 'a', type: 'template', template: 'a' }] });
    });

    test('error: a PATCH that would make the definition invalid is refused and changes nothing', async () => {
      const user = await register(app);
      const pipeline = await definePipeline(app, user.accessToken, summarise);
      const response = await app.request(`/api/v1/pipelines/${pipeline.id}`, {
        method: 'PATCH',
        headers: bearer(user.accessToken),
        json: { steps: [{ id: 'a', type: 'template', template: '{{steps.zzz.output}}' }] },
      });
      const error = (await expectError(response, 422, 'validation_error')).error;
      expect(error.details[0].step).toBe('a');
      const read = await expectStatus(await app.request(`/api/v1/pipelines/${pipeline.id}`, { headers: bearer(user.accessToken) }), 200);
      expect(read.version).toBe(1);
    });

    test('security: another user’s pipeline is a 404 to read, change, delete or run; no credentials is 401', async () => {
      const owner = await register(app);
      const intruder = await register(app);
      const pipeline = await definePipeline(app, owner.accessToken, summarise);
      const as = bearer(intruder.accessToken);
      await expectError(await app.request(`/api/v1/pipelines/${pipeline.id}`, { headers: as }), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/pipelines/${pipeline.id}`, { method: 'PATCH', headers: as, json: { name: 'mine' } }),
        404,
        'not_found',
      );
      await expectError(await app.request(`/api/v1/pipelines/${pipeline.id}`, { method: 'DELETE', headers: as }), 404, 'not_found');
      await expectError(
        await app.request(`/api/v1/pipelines/${pipeline.id}/execute`, {
          method: 'POST',
          headers: as,
          json: { input: { topic: 't', tone: 'x' } },
        }),
        404,
        'not_found',
      );
      await expectError(await app.request('/api/v1/pipelines'), 401, 'unauthorized');
      const stillThere = await expectStatus(
        await app.request(`/api/v1/pipelines/${pipeline.id}`, { headers: bearer(owner.accessToken) }),
        200,
      );
      expect(stillThere.name).toBe('Summarise');
    });
  });
}

describe('pipelines in the OpenAPI document', () => {
  test('happy: every pipeline route is described, with its schemas', async () => {
    const app = await createTestApp(undefined, testEnv);
    try {
      const doc = await expectStatus(await app.request('/swagger/json'), 200);
      const operations = Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
        path.includes('pipeline') ? Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`) : [],
      );
      expect(operations.sort()).toEqual(
        [
          'GET /api/v1/pipelines',
          'POST /api/v1/pipelines',
          'GET /api/v1/pipelines/{id}',
          'PATCH /api/v1/pipelines/{id}',
          'DELETE /api/v1/pipelines/{id}',
          'POST /api/v1/pipelines/{id}/execute',
          'GET /api/v1/pipeline-executions/{id}',
          'POST /api/v1/pipeline-executions/{id}/cancel',
          'GET /api/v1/pipeline-executions/{id}/events',
        ].sort(),
      );
      const execute = doc.paths['/api/v1/pipelines/{id}/execute'].post;
      expect(Object.keys(execute.responses)).toEqual(expect.arrayContaining(['202', '404', '422', '503']));
      expect(execute.parameters.map((p: Json) => p.name)).toContain('idempotency-key');
      expect(Object.keys(doc.paths['/api/v1/pipeline-executions/{id}/events'].get.responses['200'].content)).toEqual(['text/event-stream']);
    } finally {
      await app.close();
    }
  });
});
