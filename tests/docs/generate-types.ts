// `bun tests/docs/generate-types.ts <openapi.json> <out.ts>`: TypeScript types for the document,
// by openapi-typescript. It builds them with TypeScript 5's compiler API, which TypeScript 7 (this
// repo's `typescript`, a native compiler) no longer ships; so it runs in a process of its own in
// which `typescript` is the `typescript5` package (typescript@5 under another name).

import { createRequire } from 'node:module';
import { plugin } from 'bun';

const typescript5 = createRequire(import.meta.url)('typescript5');
plugin({
  name: 'typescript-5-for-openapi-typescript',
  setup(build) {
    build.module('typescript', () => ({ exports: { ...typescript5, default: typescript5 }, loader: 'object' }));
  },
});

const [input, output] = process.argv.slice(2);
if (!input || !output) throw new Error('usage: bun tests/docs/generate-types.ts <openapi.json> <out.ts>');
const { default: openapiTS, astToString } = await import('openapi-typescript');
const document = JSON.parse(await Bun.file(input).text());
await Bun.write(output, astToString(await openapiTS(document, { silent: true })));
