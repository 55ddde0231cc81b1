import { invalid } from './errors.ts';

/**
 * What every input must be before any schema, handler or store sees it, on HTTP (body, query,
 * path) and websocket frames alike:
 * - no string or key holds U+0000 or a lone UTF-16 surrogate: Postgres text and JSON can hold
 *   neither (it answers with an error), so both are refused here, the same on both databases;
 * - objects and arrays nest at most `maxJsonDepth` levels: deeper values overflow the stack of
 *   anything recursive (schema checks, JSON.stringify), which would turn them into 500s.
 * The walk is iterative, so the check itself holds at any depth.
 */
export const maxJsonDepth = 64;

export type InputProblem = { field: string; message: string };

/** What is wrong with one string, if anything. */
export function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'may not contain U+0000';
  if (!text.isWellFormed()) return 'may not contain a lone UTF-16 surrogate (U+D800 to U+DFFF unpaired)';
  return undefined;
}

/** The first problem in `value` (a parsed JSON value, query or params), by field path from `root`. */
export function findUnfitInput(value: unknown, root: string, maxDepth = maxJsonDepth): InputProblem | undefined {
  // [value, its path, how many objects or arrays enclose it, the key it is under, the field at the
  // top (root and first key: where a too-deep value is reported)]. Children are pushed in reverse
  // so that the first problem in document order is the one reported.
  const stack: [unknown, string, number, string | undefined, string][] = [[value, root, 0, undefined, root]];
  while (stack.length > 0) {
    const [current, path, depth, key, top] = stack.pop()!;
    const keyMessage = key === undefined ? undefined : textProblem(key);
    if (keyMessage) return { field: printable(path), message: keyMessage };
    if (typeof current === 'string') {
      const message = textProblem(current);
      if (message) return { field: printable(path), message };
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth >= maxDepth) return { field: printable(top), message: `is nested deeper than ${maxDepth} levels of objects and arrays` };
    const isArray = Array.isArray(current);
    const entries = isArray ? current.map((child, index) => [String(index), child] as const) : Object.entries(current);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [childKey, child] = entries[i]!;
      const childPath = path ? `${path}.${childKey}` : childKey;
      stack.push([child, childPath, depth + 1, isArray ? undefined : childKey, depth === 0 ? childPath : top]);
    }
  }
  return undefined;
}

/** A field path as an error may show it: a key's NUL written out, a lone surrogate as U+FFFD. */
const printable = (path: string) => path.replaceAll('\u0000', '\\u0000').toWellFormed();

/** Throws the 422 (`validation_error`, the field named in the message and in `details`) for the first problem. */
export function assertFitInput(value: unknown, root: string): void {
  const problem = findUnfitInput(value, root);
  if (problem) throw invalid(problem.field, problem.message, `${problem.field} ${problem.message}`);
}

/**
 * The websocket form of the same refusal: an `error` frame naming the field, or undefined when
 * the frame is fit. The frame's `requestId` is echoed, as on other error frames, when it is a
 * number or a fit string: anything else may be the unfit part.
 */
export function unfitFrame(frame: unknown): Record<string, unknown> | undefined {
  const problem = findUnfitInput(frame, 'frame');
  if (!problem) return undefined;
  const requestId = (frame as { requestId?: unknown } | null)?.requestId;
  const echoed = typeof requestId === 'number' || (typeof requestId === 'string' && !textProblem(requestId));
  return {
    type: 'error',
    code: 'validation_error',
    message: `${problem.field} ${problem.message}`,
    details: [problem],
    ...(echoed ? { requestId } : {}),
  };
}

/**
 * The depth limit on JSON text as its bytes arrive, before it is parsed: JSON.parse takes ~130 ms
 * of CPU for 1 MiB of `[[[…`, all to build a value the walk above then refuses. Counts `[` and `{`
 * outside strings (a UTF-8 multi-byte sequence never holds an ASCII byte, so bytes will do) and
 * throws the same 422, naming `root` (the path is not known before parsing), at the first one past
 * `maxDepth`. Malformed text is left to the parser.
 */
export function jsonDepthScanner(root: string, maxDepth = maxJsonDepth): (chunk: Uint8Array) => void {
  let depth = 0;
  let inString = false;
  let escaped = false;
  return (chunk) => {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (byte === 0x5c) escaped = true;
        else if (byte === 0x22) inString = false;
      } else if (byte === 0x22) inString = true;
      else if (byte === 0x5b || byte === 0x7b) {
        if (++depth > maxDepth) {
          const message = `is nested deeper than ${maxDepth} levels of objects and arrays`;
          throw invalid(root, message, `${root} ${message}`);
        }
      } else if (byte === 0x5d || byte === 0x7d) depth--;
    }
  };
}
