// The entry of a throwaway executable, compiled by extract-executable.test.ts with dist/parley's
// own build flags, that runs extractText on each file named on its command line and prints one
// JSON line per file: the result, or {error: {reason, status, message}}.
import { basename } from 'node:path';
import { ExtractError, extractText } from '../../src/modules/files/extract.ts';

for (const path of process.argv.slice(2)) {
  const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
  try {
    console.log(
      JSON.stringify(await extractText({ bytes, name: basename(path), contentType: 'application/octet-stream' }, { maxChars: 10_000 })),
    );
  } catch (error) {
    if (!(error instanceof ExtractError)) throw error;
    console.log(JSON.stringify({ error: { reason: error.reason, status: error.status, message: error.message } }));
  }
}
