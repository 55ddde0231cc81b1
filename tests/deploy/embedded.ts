// The guides show the deploy files as they are: a `<!-- path -->` comment followed by a fenced
// block holds that repository file verbatim. `embeddedFiles` reads those blocks for the tests;
// run this file (`bun tests/deploy/embedded.ts`) to copy the files into the guides after editing them.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const marker = /^<!-- ((?:deploy\/|fly\.toml|Dockerfile)[^ ]*) -->\n(```[a-z]*)\n([\s\S]*?)^```$/gm;

/** Each `<!-- path -->` block of a guide: the file it names and the text it shows. */
export function embeddedFiles(markdown: string): { path: string; text: string }[] {
  return [...markdown.matchAll(marker)].map((match) => ({ path: match[1]!, text: match[3]! }));
}

/** The guide with every marked block replaced by the current text of its file. */
export function withFilesEmbedded(markdown: string, read: (path: string) => string): string {
  return markdown.replace(marker, (_, path: string, fence: string) => {
    const text = read(path);
    return `<!-- ${path} -->\n${fence}\n${text.endsWith('\n') ? text : `${text}\n`}\`\`\``;
  });
}

export const guides = ['docs/vps.md', 'docs/fly.md'];

if (import.meta.main) {
  const root = resolve(import.meta.dir, '../..');
  for (const guide of guides) {
    const path = join(root, guide);
    writeFileSync(
      path,
      withFilesEmbedded(readFileSync(path, 'utf8'), (file) => readFileSync(join(root, file), 'utf8')),
    );
    console.log(`embedded the deploy files into ${guide}`);
  }
}
