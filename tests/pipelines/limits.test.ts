// Found by a fresh run against the executable: templates that repeat earlier steps' outputs grow
// geometrically (a 91 KB definition made a 100 MB output, and one step more ran the process out of
// memory as an internal_error). A filled-in template past maxRenderedChars fails its step with
// `output_too_large`, before anything is joined or stored. And a provider named by an alias is
// stored under its own name.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { maxRenderedChars } from '../../src/modules/pipelines/definition.ts';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { bearer, expectStatus, register, testEnv } from '../helpers/client.ts';
import { definePipeline, executePipeline, stepOf, waitForExecution } from './helpers.ts';

describe.each(kinds)('pipeline limits (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    // Anthropic configured (never called: defining a pipeline checks the name only).
    app = await createTestApp(kind, { ...testEnv, ANTHROPIC_API_KEY: 'test', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' });
  });
  afterAll(() => app.close());

  test('error: a step whose filled-in template passes the limit fails with output_too_large; nothing huge is stored', async () => {
    const user = await register(app);
    const pipeline = await definePipeline(app, user.accessToken, {
      name: 'blow-up',
      steps: [
        { id: 'a', type: 'template', template: 'x'.repeat(1000) },
        { id: 'b', type: 'template', template: '{{steps.a.output}}'.repeat(500) },
        { id: 'c', type: 'template', template: '{{steps.b.output}}'.repeat(20) },
      ],
    });
    const done = await waitForExecution(app, user.accessToken, await executePipeline(app, user.accessToken, pipeline.id, {}));
    expect(done.status).toBe('failed');
    expect(stepOf(done, 'b').status).toBe('succeeded');
    expect(stepOf(done, 'c')).toMatchObject({ status: 'failed', output: null });
    expect(stepOf(done, 'c').error.code).toBe('output_too_large');
    expect(JSON.stringify(done).length).toBeLessThan(maxRenderedChars);
  });

  test('happy: a provider named claude is stored and answered as anthropic', async () => {
    const user = await register(app);
    const created = await definePipeline(app, user.accessToken, {
      name: 'alias',
      steps: [{ id: 'ask', type: 'llm', provider: 'claude', prompt: 'hi' }],
    });
    expect(created.steps[0].provider).toBe('anthropic');
    const read = await expectStatus(await app.request(`/api/v1/pipelines/${created.id}`, { headers: bearer(user.accessToken) }), 200);
    expect(read.steps[0].provider).toBe('anthropic');
  });
});
