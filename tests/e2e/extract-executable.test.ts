// Text extraction inside a compiled executable: PDF.js (through unpdf) and mammoth are loaded on
// first use, by dynamic import, which must still find them inside `bun build --compile`'s bundle.
// The probe is built with dist/parley's own flags (scripts/compile.ts), copied
// alone into an empty directory so that nothing can come from node_modules, and run on real files.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileFlags } from '../../scripts/compile.ts';
import { makeDocx, makePdf, png } from '../files/extract-fixtures.ts';
import { repoRoot } from '../helpers/binary.ts';

let dir: string;
let probe: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parley-extract-'));
  const build = mkdtempSync(join(tmpdir(), 'parley-extract-build-'));
  try {
    const proc = Bun.spawn([process.execPath, 'build', 'tests/e2e/extract-probe.ts', ...compileFlags, '--outfile', join(build, 'probe')], {
      cwd: repoRoot,
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    if (code !== 0) throw new Error(`building the probe failed (${code}): ${err}`);
    probe = join(dir, 'probe');
    writeFileSync(probe, await Bun.file(join(build, 'probe')).bytes(), { mode: 0o755 });
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
}, 180_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('extraction in a compiled executable', () => {
  test('happy: reads a PDF and a DOCX, and refuses a PNG and a corrupt PDF with typed errors', async () => {
    const files = {
      'report.pdf': await makePdf([['Compiled PDF text'], ['Second page']]),
      'minutes.docx': await makeDocx('Minutes', [['Compiled ', 'DOCX', ' text']]),
      'photo.png': png,
      'broken.pdf': new TextEncoder().encode('%PDF-1.7\nnot really'),
    };
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(dir, name), bytes);
    const proc = Bun.spawn([probe, ...Object.keys(files)], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      stdout: 'pipe',
      stderr: 'pipe',
    });
    const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect({ code, err }).toEqual({ code: 0, err: '' });
    expect(
      out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
    ).toEqual([
      { kind: 'pdf', text: 'Compiled PDF text\n\nSecond page', chars: 30, totalChars: 30, truncated: false, pages: 2 },
      { kind: 'docx', text: 'Minutes\n\nCompiled DOCX text', chars: 27, totalChars: 27, truncated: false },
      { error: { reason: 'image', status: 415, message: 'photo.png is an image (image/png), not text: send it as an image' } },
      { error: { reason: 'corrupt', status: 422, message: 'broken.pdf is not a readable PDF' } },
    ]);
  });
});
