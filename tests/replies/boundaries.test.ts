// The house rule for rooms: a module uses another only through its service. Every import that
// crosses from one src/modules/<room>/ into another must name that room's service.ts, and the
// reply engine is reached by every module that replies through that one door. A room's model.ts
// (its published schemas and types) may be imported too: it holds no behaviour.
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const modulesDir = resolve(import.meta.dir, '../../src/modules');
const files = readdirSync(modulesDir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
const importsOf = (file: string) =>
  [...readFileSync(join(modulesDir, file), 'utf8').matchAll(/from '(\.[^']+)'/g)].map((match) => match[1]!);
const roomOf = (file: string) => file.split('/')[0]!;

describe('module boundaries', () => {
  test('happy: every cross-module import goes through the other room’s service.ts (or its schemas in model.ts)', () => {
    const crossings: string[] = [];
    for (const file of files) {
      for (const specifier of importsOf(file)) {
        const target = relative(modulesDir, resolve(dirname(join(modulesDir, file)), specifier));
        if (target.startsWith('..') || roomOf(target) === roomOf(file)) continue;
        if (!target.endsWith('/service.ts') && !target.endsWith('/model.ts')) crossings.push(`${file} → ${target}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  test('happy: chats, stateless chat, the OpenAI- and Anthropic-compatible APIs and websockets all reply through the replies service', () => {
    for (const room of ['chats', 'models', 'openai-compat', 'anthropic-compat', 'realtime', 'pipelines']) {
      const users = files.filter(
        (file) => roomOf(file) === room && importsOf(file).some((specifier) => specifier.endsWith('/replies/service.ts')),
      );
      expect({ room, usesReplies: users.length > 0 }).toEqual({ room, usesReplies: true });
    }
    // Nothing outside the engine's room reads a stream buffer to build a reader of its own. Pipelines
    // write their progress events into one (progress.ts) and read it only through streamAsSse.
    const readers = files.filter(
      (file) =>
        !['replies', 'streams'].includes(roomOf(file)) &&
        !['pipelines/progress.ts', 'pipelines/service.ts'].includes(file) &&
        importsOf(file).some((specifier) => specifier.includes('stream-buffers')),
    );
    expect(readers).toEqual([]);
    const pipelineReaders = ['pipelines/progress.ts', 'pipelines/service.ts'].filter((file) =>
      /\b(readStream|\.follow\(|\.snapshot\()/.test(readFileSync(join(modulesDir, file), 'utf8')),
    );
    expect(pipelineReaders).toEqual([]);
  });
});
