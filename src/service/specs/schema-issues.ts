// Turns zod's issues into SpecFileErrors that name the file, line, field, value and fix, with "did you mean" for misspelt fields.
import { z } from 'zod';
import { SpecFileError } from './spec-file-error.js';
import { formatFieldPath, lineAt, type FieldPath, type SourceDocument } from './spec-files.js';
import type { Complaint } from './templates.js';

type Issue = z.core.$ZodIssue;

/** Validates `value` (found at `prefix` in `document`); returns its value or every error, earliest line first. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, document: SourceDocument, prefix: FieldPath = []): { value: z.output<T> } | { errors: SpecFileError[] } {
  const result = schema.safeParse(value);
  if (result.success) return { value: result.data };
  const errors = result.error.issues.flatMap((issue) => flatten(issue, [])).flatMap(({ issue, path }) => toErrors(issue, path, schema, value, document, prefix));
  return { errors: sortByLine(errors) };
}

/** Stable sort by line, errors without a line last. */
export function sortByLine(errors: SpecFileError[]): SpecFileError[] {
  return errors.map((error, index) => ({ error, index })).sort((a, b) => (a.error.line ?? Infinity) - (b.error.line ?? Infinity) || a.index - b.index).map(({ error }) => error);
}

/** The nearest of `known` to `word`, when one is close enough to be a likely typo. */
export function closestWord(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  // About one edit per three letters, and never as many edits as the word has letters.
  let bestDistance = Math.min(Math.max(1, Math.floor(word.length / 3)), word.length - 1) + 1;
  for (const candidate of known) {
    const distance = candidate.toLowerCase() === word.toLowerCase() ? 0 : editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** A value as messages show it: strings quoted, lists and maps by kind. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'empty';
  if (typeof value === 'object') return 'a map';
  return String(value);
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = current;
  }
  return previous[b.length];
}

/** A union branch that failed on the value's type at its root: the value was meant for another branch. */
function failsOnType(branch: readonly Issue[]): boolean {
  return branch.some((issue) => issue.path.length === 0 && (issue.code === 'invalid_type' || (issue.code === 'invalid_union' && issue.errors.every(failsOnType))));
}

function expectedOf(branch: readonly Issue[]): string[] {
  return branch.flatMap((issue) => (issue.code === 'invalid_type' ? [describeType(issue.expected)] : issue.code === 'invalid_union' ? issue.errors.flatMap(expectedOf) : []));
}

/** Unions report one list of issues per branch: keep the branch the value was meant for, or one type error naming every branch. */
function flatten(issue: Issue, base: FieldPath): { issue: Issue; path: FieldPath }[] {
  const path = [...base, ...(issue.path as (string | number)[])];
  if (issue.code !== 'invalid_union') return [{ issue, path }];
  const meant = issue.errors.find((branch) => !failsOnType(branch));
  if (meant) return meant.flatMap((inner) => flatten(inner, path));
  const expected = [...new Set(issue.errors.flatMap(expectedOf))].join(' or ');
  return [{ issue: { code: 'custom', path: [], message: '', input: undefined, params: { expected } } as Issue, path }];
}

function describeType(expected: string): string {
  const words: Record<string, string> = { string: 'a string', number: 'a number', int: 'a whole number', boolean: 'true or false', array: 'a list', object: 'a map', record: 'a map' };
  return words[expected] ?? expected;
}

function valueAt(value: unknown, path: FieldPath): unknown {
  let current = value;
  for (const part of path) current = current !== null && typeof current === 'object' ? (current as Record<string | number, unknown>)[part] : undefined;
  return current;
}

function complaintFor(issue: Issue, value: unknown, path: FieldPath): Complaint {
  const missing = value === undefined;
  const key = path.at(-1);
  switch (issue.code) {
    case 'custom': {
      const params = issue.params as Partial<Complaint> & { expected?: string };
      if (params.expected !== undefined) return missing ? { problem: 'is missing', fix: `add ${String(key)}: ${params.expected}` } : { problem: `${showValue(value)} is not ${params.expected}`, fix: `write ${params.expected}` };
      return { problem: params.problem ?? issue.message, fix: params.fix ?? 'see schemas/pixelpipe.schema.json' };
    }
    case 'invalid_type': {
      const expected = describeType(issue.expected);
      if (missing) return { problem: 'is missing', fix: `add ${String(key)} (${expected})` };
      if (issue.expected === 'int' && typeof value === 'number') return { problem: `${value} is not a whole number`, fix: 'write a whole number' };
      return { problem: `${showValue(value)} is not ${expected}`, fix: `write ${expected}` };
    }
    case 'invalid_value': {
      const allowed = issue.values.map((allowedValue) => JSON.stringify(allowedValue));
      if (missing) return { problem: 'is missing', fix: `add ${String(key)}: ${allowed.join(' or ')}` };
      if (allowed.length === 1) return { problem: `${showValue(value)} is not supported`, fix: `write ${String(key)}: ${allowed[0]}` };
      const guess = typeof value === 'string' ? closestWord(value, issue.values.map(String)) : undefined;
      return { problem: `${showValue(value)} is not one of ${allowed.join(', ')}`, fix: guess === undefined ? `write one of ${allowed.join(', ')}` : `did you mean ${JSON.stringify(guess)}?` };
    }
    case 'too_small':
      if (issue.origin === 'array') return { problem: 'is an empty list', fix: `give at least ${issue.minimum} item, or remove the field` };
      if (issue.origin === 'string') return { problem: 'is empty', fix: 'write a value, or remove the field' };
      return { problem: `${showValue(value)} is below ${issue.minimum}`, fix: `use ${issue.minimum} or more` };
    case 'too_big':
      return { problem: `${showValue(value)} is above ${issue.maximum}`, fix: `use ${issue.maximum} or less` };
    default:
      return { problem: issue.message, fix: 'see schemas/pixelpipe.schema.json' };
  }
}

function toErrors(issue: Issue, path: FieldPath, schema: z.ZodType, root: unknown, document: SourceDocument, prefix: FieldPath): SpecFileError[] {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, path);
    return issue.keys.map((key) => {
      const guess = closestWord(key, known);
      const fieldPath = [...prefix, ...path, key];
      return new SpecFileError({
        file: document.file,
        line: lineAt(document, fieldPath),
        field: formatFieldPath(fieldPath),
        value: valueAt(root, [...path, key]),
        problem: 'is not a known field',
        fix: `${guess === undefined ? '' : `did you mean ${JSON.stringify(guess)}? `}known fields here: ${known.join(', ')}`,
      });
    });
  }
  const value = valueAt(root, path);
  const fieldPath = [...prefix, ...path];
  return [new SpecFileError({ file: document.file, line: lineAt(document, fieldPath), field: formatFieldPath(fieldPath) || undefined, value, ...complaintFor(issue, value, path) })];
}

/** The fields an object at `path` may have, read from the schema (the first object schema found there). */
function knownKeys(schema: z.ZodType, path: FieldPath): string[] {
  let candidates: z.ZodType[] = [schema];
  for (const part of path) candidates = candidates.flatMap((candidate) => childSchemas(candidate, part));
  const objects = candidates.flatMap(unwrap).filter((candidate): candidate is z.ZodObject => candidate instanceof z.ZodObject);
  return objects.length === 0 ? [] : Object.keys(objects[0].shape).filter((key) => key !== '$schema');
}

function unwrap(schema: z.ZodType): z.ZodType[] {
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable || schema instanceof z.ZodDefault) return unwrap(schema.unwrap() as z.ZodType);
  if (schema instanceof z.ZodUnion) return (schema.options as z.ZodType[]).flatMap(unwrap);
  return [schema];
}

function childSchemas(schema: z.ZodType, part: string | number): z.ZodType[] {
  return unwrap(schema).flatMap((candidate) => {
    if (candidate instanceof z.ZodObject && typeof part === 'string') {
      const child = (candidate.shape as Record<string, z.ZodType>)[part] ?? (candidate._zod.def.catchall as z.ZodType | undefined);
      return child === undefined ? [] : [child];
    }
    if (candidate instanceof z.ZodArray && typeof part === 'number') return [candidate.element as z.ZodType];
    if (candidate instanceof z.ZodRecord) return [candidate.valueType as z.ZodType];
    return [];
  });
}
