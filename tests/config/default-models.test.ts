// The default model lists (OPENAI_MODELS, ANTHROPIC_MODELS) name only models people can use today:
// none of them is on the deprecation lists the official SDKs ship (@anthropic-ai/sdk's
// DEPRECATED_MODELS, whose calls print an end-of-life warning; openai's "Deprecated values" with
// their announced shutdown dates). claude-sonnet-4-5 reached its end of life on 2026-11-30.
import { describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';

const modules = join(import.meta.dir, '../../node_modules');

/** Model ids @anthropic-ai/sdk warns about (its internal DEPRECATED_MODELS table: id → end-of-life date). */
function anthropicDeprecated(): string[] {
  const source = readFileSync(join(modules, '@anthropic-ai/sdk/internal/data/deprecated-models.js'), 'utf8');
  const table = source.slice(source.indexOf('DEPRECATED_MODELS = {'));
  return [...table.slice(0, table.indexOf('}')).matchAll(/'([^']+)':/g)].map((match) => match[1]!);
}

/** Model ids the openai SDK lists under "Deprecated values" (each with an announced shutdown date). */
function openaiDeprecated(): string[] {
  const source = readFileSync(join(modules, 'openai/resources/shared.d.ts'), 'utf8');
  const start = source.indexOf('Deprecated values:');
  const block = source.slice(start, source.indexOf('*/', start));
  return [...block.matchAll(/"([^"]+)"/g)].map((match) => match[1]!);
}

describe('default model lists', () => {
  const { models } = parseConfig({ NODE_ENV: 'test' }).llm;

  test('happy: the SDKs’ deprecation lists are read (so the check below checks something)', () => {
    expect(anthropicDeprecated()).toContain('claude-sonnet-4-5');
    expect(openaiDeprecated()).toEqual(expect.arrayContaining(['gpt-4o', 'gpt-4o-mini', 'gpt-3.5-turbo']));
  });

  test('happy: no default model is deprecated or past its end of life', () => {
    expect(models.anthropic.length).toBeGreaterThan(0);
    expect(models.openai.length).toBeGreaterThan(0);
    expect(models.anthropic.filter((id) => anthropicDeprecated().includes(id))).toEqual([]);
    expect(models.openai.filter((id) => openaiDeprecated().includes(id))).toEqual([]);
    expect(models.anthropic).not.toContain('claude-sonnet-4-5');
  });

  test('happy: the defaults are models the SDKs name today (their Model / ChatModel types)', () => {
    const anthropicTypes = readFileSync(join(modules, '@anthropic-ai/sdk/resources/messages/messages.d.ts'), 'utf8');
    const anthropicModel = anthropicTypes.slice(anthropicTypes.indexOf('export type Model ='));
    for (const id of models.anthropic) expect(anthropicModel.slice(0, anthropicModel.indexOf(';'))).toContain(`'${id}'`);
    const openaiTypes = readFileSync(join(modules, 'openai/resources/shared.d.ts'), 'utf8');
    const chatModel = openaiTypes.slice(openaiTypes.indexOf('export type ChatModel ='));
    for (const id of models.openai) expect(chatModel.slice(0, chatModel.indexOf(';'))).toContain(`'${id}'`);
  });
});
