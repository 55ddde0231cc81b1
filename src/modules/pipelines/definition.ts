// A pipeline definition: its steps, their templates and the graph they form. Everything here is
// pure: checked once when a definition is written (every problem named with its step), compiled
// again by the engine from the stored version.

import { AppError } from '../../http/errors.ts';
import type { PipelineStepBody } from './model.ts';

export const stepTypes = ['llm', 'template', 'file', 'transcribe'] as const;
export type StepType = (typeof stepTypes)[number];
export type StepDefinition = PipelineStepBody;

/** A piece of a template: literal text, an input's value, or a step's output. */
export type TemplatePart = { kind: 'text'; text: string } | { kind: 'input'; name: string } | { kind: 'step'; id: string };
export type Template = TemplatePart[];

/** A problem with a definition, as it goes in the 422's `details`. */
export type DefinitionProblem = { field: string; message: string; step?: string };

/** Fields each type takes beyond the common ones, which of them it needs, and which are templates. */
const typeFields: Record<StepType, { allowed: string[]; required: string[]; templates: string[] }> = {
  llm: {
    allowed: ['prompt', 'system', 'provider', 'model', 'temperature', 'maxTokens'],
    required: ['prompt'],
    templates: ['prompt', 'system'],
  },
  template: { allowed: ['template'], required: ['template'], templates: ['template'] },
  file: { allowed: ['fileId', 'maxChars'], required: ['fileId'], templates: ['fileId'] },
  transcribe: { allowed: ['fileId'], required: ['fileId'], templates: ['fileId'] },
};
const commonFields = new Set(['id', 'type', 'dependsOn', 'timeoutMs', 'retries']);

const inputName = /^input\.([A-Za-z_][A-Za-z0-9_-]{0,63})$/;
const stepOutput = /^steps\.([A-Za-z][A-Za-z0-9_-]{0,63})\.output$/;

/**
 * Parses `{{input.<name>}}` and `{{steps.<id>.output}}` references (spaces inside the braces
 * allowed) out of `text`. Anything else between `{{` and `}}`, or a `{{` never closed, is an
 * error (a string describing it).
 */
export function parseTemplate(text: string): Template | string {
  const parts: Template = [];
  let at = 0;
  while (at < text.length) {
    const open = text.indexOf('{{', at);
    if (open === -1) {
      parts.push({ kind: 'text', text: text.slice(at) });
      break;
    }
    if (open > at) parts.push({ kind: 'text', text: text.slice(at, open) });
    const close = text.indexOf('}}', open + 2);
    if (close === -1) return `has a "{{" at character ${open + 1} that is never closed with "}}"`;
    const expression = text.slice(open + 2, close).trim();
    const input = inputName.exec(expression);
    const step = stepOutput.exec(expression);
    if (input) parts.push({ kind: 'input', name: input[1]! });
    else if (step) parts.push({ kind: 'step', id: step[1]! });
    else return `has "{{${expression.slice(0, 80)}}}", which is neither {{input.<name>}} nor {{steps.<id>.output}}`;
    at = close + 2;
  }
  return parts;
}

/** The template with its references filled in; a missing value reads as the empty string. */
/** Most characters a filled-in template may hold: past it the step (or the output) fails, never the process or the database. */
export const maxRenderedChars = 1_000_000;

/** A template whose filled-in text would pass maxRenderedChars (steps repeating steps' outputs grow geometrically). */
export class TemplateTooLargeError extends RangeError {
  override readonly name = 'TemplateTooLargeError';
  constructor(readonly chars: number) {
    super(`The filled-in template would hold ${chars} characters, more than the ${maxRenderedChars} a step's text may`);
  }
}

/** The template with its references filled in; TemplateTooLargeError (before joining anything) past maxRenderedChars. */
export function renderTemplate(template: Template, values: { input: Record<string, string>; outputs: Map<string, string> }): string {
  const pieces = template.map((part) =>
    part.kind === 'text' ? part.text : part.kind === 'input' ? (values.input[part.name] ?? '') : (values.outputs.get(part.id) ?? ''),
  );
  const chars = pieces.reduce((sum, piece) => sum + piece.length, 0);
  if (chars > maxRenderedChars) throw new TemplateTooLargeError(chars);
  return pieces.join('');
}

/** A step ready to run: its definition, its parsed templates, and the steps it waits for. */
export type CompiledStep = {
  definition: StepDefinition;
  type: StepType;
  templates: Partial<Record<string, Template>>;
  dependsOn: string[];
};

export type CompiledPipeline = {
  steps: CompiledStep[];
  /** The execution's output; the last step's output when the definition gives none. */
  output: Template;
  /** Input names the templates use, sorted: an execution must give each. */
  inputs: string[];
};

const isStepType = (type: string): type is StepType => (stepTypes as readonly string[]).includes(type);

/** One cycle among `ids` (which are all on cycles or behind them), as `a → b → a`. */
function findCycle(ids: string[], edges: Map<string, string[]>): string[] | undefined {
  const remaining = new Set(ids);
  for (const start of ids) {
    const path: string[] = [];
    const onPath = new Map<string, number>();
    let node: string | undefined = start;
    while (node !== undefined && !onPath.has(node)) {
      onPath.set(node, path.length);
      path.push(node);
      node = (edges.get(node) ?? []).find((next) => remaining.has(next));
    }
    if (node !== undefined) return [...path.slice(onPath.get(node)), node];
  }
  return undefined;
}

/**
 * Checks a definition and compiles it: each step's type and fields, its templates, the steps
 * they (and `dependsOn`) name, and that the steps form no cycle. Returns the problems found (all
 * of them, each naming its step and field) or the compiled pipeline.
 */
export function compilePipeline(steps: StepDefinition[], output?: string | null): CompiledPipeline | DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  const ids = new Map<string, number>();
  steps.forEach((step, index) => {
    const first = ids.get(step.id);
    if (first !== undefined)
      problems.push({ field: `body.steps.${index}.id`, message: `repeats the id of step ${first} ("${step.id}")`, step: step.id });
    else ids.set(step.id, index);
  });
  const compiled: CompiledStep[] = [];
  const inputs = new Set<string>();
  steps.forEach((step, index) => {
    const field = (name: string) => `body.steps.${index}.${name}`;
    const problem = (name: string, message: string) =>
      problems.push({ field: field(name), message: `step "${step.id}": ${message}`, step: step.id });
    if (!isStepType(step.type)) {
      problem('type', `"${step.type}" is not a step type (${stepTypes.join(', ')})`);
      return;
    }
    const rules = typeFields[step.type];
    const record = step as Record<string, unknown>;
    for (const name of Object.keys(record)) {
      if (!commonFields.has(name) && !rules.allowed.includes(name) && record[name] !== undefined) {
        problem(name, `a ${step.type} step takes no "${name}" (it takes ${rules.allowed.join(', ')})`);
      }
    }
    for (const name of rules.required) if (record[name] === undefined) problem(name, `a ${step.type} step needs "${name}"`);
    const templates: Partial<Record<string, Template>> = {};
    const dependsOn = new Set<string>();
    for (const name of rules.templates) {
      const text = record[name];
      if (typeof text !== 'string') continue;
      const parsed = parseTemplate(text);
      if (typeof parsed === 'string') {
        problem(name, `the template ${parsed}`);
        continue;
      }
      templates[name] = parsed;
      for (const part of parsed) {
        if (part.kind === 'input') inputs.add(part.name);
        if (part.kind !== 'step') continue;
        if (part.id === step.id) problem(name, 'refers to its own output');
        else if (!ids.has(part.id)) problem(name, `refers to {{steps.${part.id}.output}}, but there is no step "${part.id}"`);
        else dependsOn.add(part.id);
      }
    }
    for (const id of step.dependsOn ?? []) {
      if (id === step.id) problem('dependsOn', 'depends on itself');
      else if (!ids.has(id)) problem('dependsOn', `depends on "${id}", but there is no such step`);
      else dependsOn.add(id);
    }
    compiled.push({ definition: step, type: step.type, templates, dependsOn: [...dependsOn] });
  });

  let outputTemplate: Template = steps.length > 0 ? [{ kind: 'step', id: steps[steps.length - 1]!.id }] : [];
  if (output !== undefined && output !== null) {
    const parsed = parseTemplate(output);
    if (typeof parsed === 'string') problems.push({ field: 'body.output', message: `the template ${parsed}` });
    else {
      for (const part of parsed) {
        if (part.kind === 'input') inputs.add(part.name);
        if (part.kind === 'step' && !ids.has(part.id)) {
          problems.push({ field: 'body.output', message: `refers to {{steps.${part.id}.output}}, but there is no step "${part.id}"` });
        }
      }
      outputTemplate = parsed;
    }
  }
  if (problems.length > 0) return problems;

  // Kahn's algorithm: what cannot be ordered sits on a cycle or behind one.
  const edges = new Map(compiled.map((step) => [step.definition.id, step.dependsOn]));
  const ordered = new Set<string>();
  let progress = true;
  while (progress) {
    progress = false;
    for (const step of compiled) {
      const id = step.definition.id;
      if (ordered.has(id)) continue;
      if (step.dependsOn.every((dependency) => ordered.has(dependency))) {
        ordered.add(id);
        progress = true;
      }
    }
  }
  const stuck = compiled.map((step) => step.definition.id).filter((id) => !ordered.has(id));
  if (stuck.length > 0) {
    const cycle = findCycle(stuck, edges) ?? stuck;
    for (const id of new Set(cycle)) {
      problems.push({ field: `body.steps.${ids.get(id)}`, message: `step "${id}" is part of a cycle: ${cycle.join(' → ')}`, step: id });
    }
    return problems;
  }
  return { steps: compiled, output: outputTemplate, inputs: [...inputs].sort() };
}

/** The 422 for a definition's problems. */
export function definitionError(problems: DefinitionProblem[]): AppError {
  const steps = [...new Set(problems.flatMap((problem) => (problem.step ? [problem.step] : [])))];
  const summary =
    steps.length > 0 ? `The pipeline is not valid (step ${steps.map((id) => `"${id}"`).join(', ')})` : 'The pipeline is not valid';
  return new AppError('validation_error', summary, { details: problems });
}

/** Compiles a definition, or throws its 422. */
export function compileOrThrow(steps: StepDefinition[], output?: string | null): CompiledPipeline {
  const compiled = compilePipeline(steps, output);
  if (Array.isArray(compiled)) throw definitionError(compiled);
  return compiled;
}
