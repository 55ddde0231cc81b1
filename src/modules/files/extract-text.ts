// Reading a file's bytes as text: which encoding, whether it is text at all, and what kind of text
// (prose, Markdown, JSON, CSV or source code in a named language). extract.ts decides first
// whether the bytes are a PDF, a DOCX, an image or another binary format; what reaches here is
// anything else.
//
// The policy, in order:
// - a byte order mark chooses the encoding: UTF-8 (dropped), UTF-16 LE or BE (decoded as such);
// - otherwise the bytes are UTF-8. A NUL byte means binary data, not text: refused. Invalid UTF-8
//   sequences become U+FFFD (so a Latin-1 file with a few accents still reads), unless they and
//   control characters together are over 30% of the characters (random bytes give over 50%):
//   then it is binary, refused. UTF-16 without a byte order mark has NULs, so it is refused too;
// - line endings become \n (a CR LF costs a token upstream for nothing).

import { extname } from 'node:path';

export type TextKind = 'text' | 'markdown' | 'json' | 'csv' | 'code';

/** Share of U+FFFD or control characters above which bytes are called binary rather than text. */
const binaryShare = 0.3;

const byExtension: Record<string, TextKind> = {
  '.txt': 'text',
  '.text': 'text',
  '.log': 'text',
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.mdx': 'markdown',
  '.json': 'json',
  '.csv': 'csv',
  '.tsv': 'csv',
};

// Extensions (and a few whole names) of source and configuration files, with the language named
// in the prompt so the model reads the code as what it is.
const languages: Record<string, string> = {
  '.c': 'c',
  '.h': 'c',
  '.cc': 'cpp',
  '.cpp': 'cpp',
  '.cxx': 'cpp',
  '.hpp': 'cpp',
  '.cs': 'csharp',
  '.css': 'css',
  '.scss': 'scss',
  '.dart': 'dart',
  '.ex': 'elixir',
  '.exs': 'elixir',
  '.erl': 'erlang',
  '.go': 'go',
  '.graphql': 'graphql',
  '.hs': 'haskell',
  '.html': 'html',
  '.htm': 'html',
  '.java': 'java',
  '.js': 'javascript',
  '.mjs': 'javascript',
  '.cjs': 'javascript',
  '.jsx': 'jsx',
  '.jl': 'julia',
  '.kt': 'kotlin',
  '.kts': 'kotlin',
  '.lua': 'lua',
  '.m': 'objectivec',
  '.php': 'php',
  '.pl': 'perl',
  '.proto': 'protobuf',
  '.ps1': 'powershell',
  '.py': 'python',
  '.r': 'r',
  '.rb': 'ruby',
  '.rs': 'rust',
  '.scala': 'scala',
  '.sh': 'bash',
  '.bash': 'bash',
  '.zsh': 'zsh',
  '.sql': 'sql',
  '.svelte': 'svelte',
  '.swift': 'swift',
  '.tf': 'hcl',
  '.toml': 'toml',
  '.ts': 'typescript',
  '.mts': 'typescript',
  '.cts': 'typescript',
  '.tsx': 'tsx',
  '.vue': 'vue',
  '.xml': 'xml',
  '.svg': 'xml',
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.ini': 'ini',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.zig': 'zig',
  dockerfile: 'dockerfile',
  makefile: 'makefile',
};

/** What kind of text a file named `name` and sent as `contentType` holds, and its language when it is code. */
export function textKindOf(name: string, contentType: string): { kind: TextKind; language?: string } {
  const base = name.split(/[\\/]/).pop()?.toLowerCase() ?? '';
  const extension = extname(base);
  const known = byExtension[extension];
  if (known) return { kind: known };
  const language = languages[extension] ?? languages[base];
  if (language) return { kind: 'code', language };
  const mime = contentType.split(';')[0]!.trim().toLowerCase();
  if (mime === 'text/markdown' || mime === 'text/x-markdown') return { kind: 'markdown' };
  if (mime === 'application/json' || mime.endsWith('+json')) return { kind: 'json' };
  if (mime === 'text/csv' || mime === 'text/tab-separated-values') return { kind: 'csv' };
  return { kind: 'text' };
}

/**
 * `bytes` decoded as text under the policy at the top of this file, line endings made \n; or
 * undefined when the bytes are binary data rather than text.
 */
export function decodeText(bytes: Uint8Array): string | undefined {
  const decoded = decodeWithBom(bytes);
  if (decoded === undefined) return undefined;
  const text = decoded.replace(/\r\n?/g, '\n');
  if (text.length === 0) return text;
  let suspicious = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    // C0 controls other than tab, newline, vertical tab, form feed and escape (ANSI colours in logs).
    if (code === 0xfffd || (code < 0x20 && code !== 9 && code !== 10 && code !== 11 && code !== 12 && code !== 27)) suspicious++;
  }
  return suspicious > text.length * binaryShare ? undefined : text;
}

function decodeWithBom(bytes: Uint8Array): string | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return utf8(bytes.subarray(3));
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  return utf8(bytes);
}

function utf8(bytes: Uint8Array): string | undefined {
  if (bytes.includes(0)) return undefined;
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(bytes);
}

/**
 * `raw` laid out two spaces a level when it is valid JSON on one line, else `raw` unchanged (JSON
 * already spread over lines was laid out by someone; invalid JSON is passed on as it is). Nothing
 * but the layout changes: when JSON.stringify would write other tokens than `raw` has (digits past
 * 2^53, `1.0`, `\u00e9` escapes, duplicate keys), the tokens are re-indented one by one instead,
 * which is slower, so that pass stops once the text is longer than `limit` code units (then
 * `complete` is false and the text has at least `limit` characters but not all of them).
 */
export function prettyJson(raw: string, limit: number): { text: string; complete: boolean } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { text: raw, complete: true };
  }
  if (raw.trimEnd().includes('\n')) return { text: raw, complete: true };
  const compact = JSON.stringify(parsed);
  if (raw.trim() === compact || withoutSpace(raw) === compact) return { text: JSON.stringify(parsed, null, 2), complete: true };
  return reindent(raw, limit);
}

/** `raw` (valid JSON) without the whitespace between its tokens; undefined if the engine gives up on a huge string. */
function withoutSpace(raw: string): string | undefined {
  try {
    return raw.replace(/("(?:[^"\\]|\\.)*")|\s+/g, '$1');
  } catch {
    return undefined;
  }
}

/** `raw` (valid JSON) re-indented token by token, until the result is longer than `limit`. */
function reindent(raw: string, limit: number): { text: string; complete: boolean } {
  const parts: string[] = [];
  let length = 0;
  let depth = 0;
  let i = 0;
  const newline = () => `\n${'  '.repeat(depth)}`;
  const push = (...texts: string[]) => {
    for (const text of texts) {
      parts.push(text);
      length += text.length;
    }
  };
  while (i < raw.length) {
    if (length > limit) return { text: parts.join(''), complete: false };
    const char = raw[i]!;
    if (char === '"') {
      const end = stringEnd(raw, i);
      push(raw.slice(i, end));
      i = end;
      continue;
    }
    if (char === '{' || char === '[') {
      const close = char === '{' ? '}' : ']';
      const next = skipSpace(raw, i + 1);
      if (raw[next] === close) {
        push(char, close);
        i = next + 1;
        continue;
      }
      depth++;
      push(char, newline());
    } else if (char === '}' || char === ']') {
      depth--;
      push(newline(), char);
    } else if (char === ',') {
      push(',', newline());
    } else if (char === ':') {
      push(': ');
    } else if (char !== ' ' && char !== '\t' && char !== '\n' && char !== '\r') {
      // A number or a literal, copied whole.
      const end = tokenEnd(raw, i);
      push(raw.slice(i, end));
      i = end;
      continue;
    }
    i++;
  }
  return { text: parts.join(''), complete: true };
}

/** The index just past the JSON string that opens at `start` (a quote). */
function stringEnd(raw: string, start: number): number {
  let i = start + 1;
  while (i < raw.length) {
    const char = raw[i]!;
    if (char === '\\') i += 2;
    else if (char === '"') return i + 1;
    else i++;
  }
  return raw.length;
}

function skipSpace(raw: string, start: number): number {
  let i = start;
  while (i < raw.length && ' \t\n\r'.includes(raw[i]!)) i++;
  return i;
}

function tokenEnd(raw: string, start: number): number {
  let i = start;
  while (i < raw.length && !' \t\n\r,:]}'.includes(raw[i]!)) i++;
  return i;
}
