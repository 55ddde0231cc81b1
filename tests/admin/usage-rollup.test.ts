// Housekeeping rolls old usage detail up (issue 12, point 6): daily usage rows older than 400 days
// become one row per user, month, provider and model (their sums kept exactly); recent days are
// untouched, and POST /admin/sessions/cleanup says how many daily rows it folded.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createTestApp, kinds, type TestApp } from '../helpers/app.ts';
import { asAdmin, expectStatus, register, testEnv } from '../helpers/client.ts';

describe.each(kinds)('usage roll-up (%s)', (_name, kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await createTestApp(kind, testEnv);
  });
  afterAll(() => app.close());

  test('happy: old days fold into their month with the same sums; recent days stay; the clean-up reports it', async () => {
    const { userId } = await register(app);
    const { usageRecords } = app.infra.db.tables;
    const row = (day: string, model: string, requests: number, input: number, output: number) => ({
      userId,
      day,
      provider: 'openai',
      model,
      requests,
      inputTokens: input,
      outputTokens: output,
    });
    const today = new Date().toISOString().slice(0, 10);
    await app.infra.db.run((q) =>
      q
        .insert(usageRecords)
        .values([
          row('2024-01-03', 'gpt-4o', 2, 10, 20),
          row('2024-01-20', 'gpt-4o', 3, 5, 5),
          row('2024-01-20', 'gpt-4o-mini', 1, 1, 1),
          row('2024-02-01', 'gpt-4o', 1, 7, 7),
          row(today, 'gpt-4o', 4, 40, 40),
        ]),
    );
    const report = await expectStatus(await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin }), 200);
    expect(report.usageRolledUp).toBe(4);
    const rows = await app.infra.db.run((q) => q.select().from(usageRecords));
    const mine = rows
      .filter((r) => r.userId === userId)
      .map((r) => [r.day, r.model, Number(r.requests), Number(r.inputTokens), Number(r.outputTokens)])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])) || String(a[1]).localeCompare(String(b[1])));
    expect(mine).toEqual([
      ['2024-01', 'gpt-4o', 5, 15, 25],
      ['2024-01', 'gpt-4o-mini', 1, 1, 1],
      ['2024-02', 'gpt-4o', 1, 7, 7],
      [today, 'gpt-4o', 4, 40, 40],
    ]);
    // A second pass finds nothing left to fold, and a month row already there is added to.
    await app.infra.db.run((q) => q.insert(usageRecords).values([row('2024-01-31', 'gpt-4o', 1, 1, 1)]));
    const again = await expectStatus(await app.request('/api/v1/admin/sessions/cleanup', { method: 'POST', headers: asAdmin }), 200);
    expect(again.usageRolledUp).toBe(1);
    const january = (await app.infra.db.run((q) => q.select().from(usageRecords))).find(
      (r) => r.userId === userId && r.day === '2024-01' && r.model === 'gpt-4o',
    )!;
    expect([Number(january.requests), Number(january.inputTokens), Number(january.outputTokens)]).toEqual([6, 16, 26]);
  });
});
