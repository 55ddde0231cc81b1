// Tool calls and structured output for the fake upstream, the same in both wire formats: which
// tools a request makes the model call, with what arguments, and the JSON a `fake-json` reply is.
// Everything is derived from the request's own schemas, so a test can compute what to expect.
import { isRecord } from './upstream-core.ts';

/** Scenario models of this file (see SCENARIO_MODELS for the rest). */
export const TOOL_SCENARIO_MODELS = [
  /** Calls the first tool (tool_choice `auto`); answers in text once the last turn is a tool result. */
  'fake-tool-call',
  /** Calls the first two tools (the first one twice when there is one) in one reply, unless parallel calls are off. */
  'fake-parallel-tool-calls',
  /** Answers with JSON matching the request's json_schema (sampleFor), or `{"reply": …}` for json_object. */
  'fake-json',
] as const;

/** A tool as the fake reads it from either wire format. */
export type FakeTool = { name: string; schema: unknown };

/** What the model is forced to do, from either wire format's tool choice. */
export type FakeChoice = 'auto' | 'none' | 'required' | { name: string };

/** One call the fake makes. */
export type FakeCall = { id: string; name: string; arguments: string };

/**
 * A value that satisfies `schema` (the subset of JSON Schema tools and response formats use):
 * an object with every property (required or not), strings `"<name>-value"` (or the first enum
 * value / const), numbers 1, integers 1, booleans true, arrays of one item, null for null.
 */
export function sampleFor(schema: unknown, name = 'value'): unknown {
  if (!isRecord(schema)) return `${name}-value`;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length) {
      const first = options.find((option) => !isRecord(option) || option.type !== 'null') ?? options[0];
      return sampleFor(first, name);
    }
  }
  const type = Array.isArray(schema.type) ? (schema.type.find((t) => t !== 'null') ?? schema.type[0]) : schema.type;
  if (type === 'object' || (type === undefined && isRecord(schema.properties))) {
    const properties = isRecord(schema.properties) ? schema.properties : {};
    return Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, sampleFor(value, key)]));
  }
  if (type === 'array') return [sampleFor(schema.items, name)];
  if (type === 'integer' || type === 'number') return 1;
  if (type === 'boolean') return true;
  if (type === 'null') return null;
  return `${name}-value`;
}

/** The arguments the fake writes for a tool with this parameters schema, as JSON text. */
export function expectedToolArguments(schema: unknown): string {
  return JSON.stringify(sampleFor(schema ?? { type: 'object', properties: {} }));
}

/**
 * The calls the model makes, or none (a text reply): always when the choice forces one
 * (`required` / a named tool: that one); with `auto`, only for the tool scenario models and only
 * while the last turn is not a tool result (the model has what it asked for).
 */
export function plannedCalls(options: {
  model: string;
  tools: FakeTool[];
  choice: FakeChoice;
  parallel: boolean;
  afterToolResult: boolean;
  nextId: () => string;
}): FakeCall[] {
  const { model, tools, choice, parallel, nextId } = options;
  if (!tools.length || choice === 'none') return [];
  const call = (tool: FakeTool): FakeCall => ({ id: nextId(), name: tool.name, arguments: expectedToolArguments(tool.schema) });
  if (typeof choice === 'object') {
    const named = tools.find((tool) => tool.name === choice.name);
    return named ? [call(named)] : [];
  }
  const scenario = model === 'fake-tool-call' || model === 'fake-parallel-tool-calls';
  if (choice === 'auto' && (!scenario || options.afterToolResult)) return [];
  if (model === 'fake-parallel-tool-calls' && parallel) return [call(tools[0]!), call(tools[1] ?? tools[0]!)];
  return [call(tools[0]!)];
}

/** The reply of `fake-json`: JSON for the schema, or (no schema: json_object) `{"reply": <the normal reply>}`. */
export function jsonReply(schema: unknown, reply: string): string {
  return schema === undefined ? JSON.stringify({ reply }) : JSON.stringify(sampleFor(schema));
}

/** A JSON text in `pieces` parts of about equal length (how upstreams stream tool arguments). */
export function piecesOf(text: string, pieces = 3): string[] {
  const size = Math.max(1, Math.ceil(text.length / pieces));
  const out: string[] = [];
  for (let at = 0; at < text.length; at += size) out.push(text.slice(at, at + size));
  return out.length ? out : [''];
}
