// The deploy guides agree with the files they describe: docs/vps.md and docs/fly.md show the
// repository's deploy/ files and fly.toml verbatim, fly.md's "several machines" change is only the
// one its text names, fly.toml's limits fit the server's, TRUST_PROXY on Fly takes the address
// from Fly-Client-IP, and the README leads to both guides. (The VPS guide itself is run by
// vps.test.ts and backup-postgres.test.ts; Fly cannot be reached from here.)
import { describe, expect, test } from 'bun:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.ts';
import { createTestApp } from '../helpers/app.ts';
import { repoRoot } from '../helpers/binary.ts';
import { bearer, readJson, register } from '../helpers/client.ts';
import { embeddedFiles, guides } from './embedded.ts';

const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');
type Toml = Record<string, unknown>;
const flyToml = Bun.TOML.parse(read('fly.toml')) as Toml & {
  env: Record<string, string>;
  http_service: Toml & { min_machines_running: number; concurrency: { type: string; soft_limit: number; hard_limit: number } };
};

/** The fenced blocks of a Markdown text with their info string. */
const fencedBlocks = (markdown: string) =>
  [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, text: m[2]! }));

/** Every leaf of a parsed TOML document as `a.b.c` → value. */
function leaves(value: unknown, prefix = ''): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { [prefix]: value };
  return Object.assign({}, ...Object.entries(value).map(([key, inner]) => leaves(inner, prefix ? `${prefix}.${key}` : key)));
}

describe('the deploy guides', () => {
  test.each(guides)('happy: %s shows each file it names exactly as the repository has it', (guide) => {
    const blocks = embeddedFiles(read(guide));
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      // On failure: edit the file, then `bun tests/deploy/embedded.ts` copies it into the guide.
      expect({ path: block.path, text: block.text }).toEqual({ path: block.path, text: read(block.path) });
    }
  });

  test('happy: docs/vps.md shows every file of deploy/, and docs/fly.md the whole fly.toml', () => {
    const shown = embeddedFiles(read('docs/vps.md')).map((block) => block.path);
    expect(shown.sort()).toEqual(
      readdirSync(join(repoRoot, 'deploy'))
        .map((name) => `deploy/${name}`)
        .sort(),
    );
    expect(embeddedFiles(read('docs/fly.md')).map((block) => block.path)).toEqual(['fly.toml']);
  });

  test('happy: the Fly guide’s other snippets agree with fly.toml: the release command as it is, several machines changing only what the text says', () => {
    const snippets = fencedBlocks(read('docs/fly.md')).filter(
      (block) => block.lang === 'toml' && !block.text.startsWith('# Fly.io deployment'),
    );
    expect(snippets).toHaveLength(2);
    const [release, several] = snippets.map((block) => Bun.TOML.parse(block.text) as Toml) as [Toml, Toml];
    expect(release).toEqual({ deploy: { release_command: (flyToml.deploy as Toml).release_command } });
    const changed = leaves(several);
    expect(Object.keys(changed)).toEqual(['http_service.min_machines_running']);
    expect(changed['http_service.min_machines_running']).toBeGreaterThan(1);
    expect(flyToml.http_service.min_machines_running).toBe(0);
    // The text deletes [mounts], which the one-machine file has.
    expect(read('docs/fly.md')).toContain('delete the whole `[mounts]` section');
    expect(flyToml.mounts).toBeDefined();
  });

  test('happy: fly.toml lets a machine hold many streams, within the upstream connections a process may open', () => {
    const { concurrency } = flyToml.http_service;
    const config = parseConfig({ ...flyToml.env, JWT_SECRET: 'x'.repeat(48) });
    expect(concurrency.type).toBe('requests');
    expect(concurrency.soft_limit).toBeLessThan(concurrency.hard_limit);
    expect(concurrency.hard_limit).toBeLessThanOrEqual(config.llm.maxConnections);
    expect(read('docs/fly.md')).toContain(`past ${concurrency.soft_limit.toLocaleString('en')} (\`soft_limit\`)`);
    expect(read('docs/fly.md')).toContain(`past ${concurrency.hard_limit.toLocaleString('en')} (\`hard_limit\`)`);
  });

  test('security: with fly.toml’s TRUST_PROXY the client address is Fly-Client-IP, which Fly’s proxy sets', async () => {
    expect(flyToml.env.TRUST_PROXY).toBe('true');
    const app = await createTestApp(undefined, { TRUST_PROXY: flyToml.env.TRUST_PROXY });
    try {
      const fly = { 'fly-client-ip': '198.51.100.23', 'x-forwarded-for': '198.51.100.23, 10.0.0.1' };
      const user = await register(app, { headers: fly });
      const sessions = await readJson(await app.request('/api/v1/auth/sessions', { headers: bearer(user.accessToken) }));
      expect(sessions.data.map((s: { ip: string | null }) => s.ip)).toEqual(['198.51.100.23']);
    } finally {
      await app.close();
    }
  });

  test('happy: the README leads to both guides', () => {
    const readme = read('README.md');
    for (const guide of guides) expect(readme).toContain(`](${guide})`);
  });
});
