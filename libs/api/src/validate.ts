import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { validateSync, type ValidationError as ClassValidationError, type ValidatorOptions } from 'class-validator';
import { serviceNameProblem, type ServiceDraft } from '@berth/core';
import { boundsProblems, LIMITS, shapeProblems } from './bounds';
import { crossFieldProblems, type FieldProblem } from './cross-checks';
import { ruleFor } from './decorators';
import { ServiceManifestDto } from './dto';
import { runSync, type Steps } from './steps';
import { describeValue, isMapping, type PathSegment } from './rules';
import { toDraft } from './to-draft';
import { knownFields, unknownFieldMessage } from './unknown-fields';

const OPTIONS: ValidatorOptions = {
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  stopAtFirstError: true,
  validationError: { target: true, value: true },
};

/** The outcome for one document: a draft exactly when there are no problems. */
export interface DocumentResult {
  readonly draft?: ServiceDraft;
  /** At most LIMITS.issues of them: an answer lists no more (bounds.ts). */
  readonly problems: readonly FieldProblem[];
  /** How many more problems the document has beyond `problems`. */
  readonly unlisted?: number;
}

/**
 * Validates every document of one apply. Besides each document's own rules, a service name may
 * appear once per apply; `where(i)` names document i for that message ("web.yaml document 1").
 */
export function validateDocuments(values: readonly unknown[], where: (index: number) => string): DocumentResult[] {
  return runSync(validateEach(values, where));
}

/** validateDocuments in steps, one document each (steps.ts). */
export function* validateEach(values: readonly unknown[], where: (index: number) => string): Steps<DocumentResult[]> {
  const results: DocumentResult[] = [];
  for (const value of values) {
    results.push(validateDocument(value));
    yield;
  }
  const firstByName = new Map<string, number>();
  return results.map((result, index) => {
    const name = nameOf(values[index]);
    if (name === undefined) return result;
    const first = firstByName.get(name);
    if (first === undefined) {
      firstByName.set(name, index);
      return result;
    }
    const dup: FieldProblem = { path: ['metadata', 'name'], message: `"${name}" is already defined by ${where(first)} (one document per service)` };
    return { problems: [...result.problems, dup], ...(result.unlisted ? { unlisted: result.unlisted } : {}) };
  });
}

/** One manifest object (a parsed YAML document or a JSON item) → its draft or its problems. */
export function validateDocument(value: unknown): DocumentResult {
  if (value === null || value === undefined) {
    return { problems: [{ path: [], message: 'the document is empty (expected a Service manifest)' }] };
  }
  if (!isMapping(value)) {
    return { problems: [{ path: [], message: `the document must be a mapping with apiVersion, kind, metadata and spec (got ${describeValue(value)})` }] };
  }
  // Oversized content is refused before any rule runs: the rules' work stays small and linear.
  const shape = shapeProblems(value);
  if (shape.length > 0) return { problems: shape };
  const clean = withoutReservedKeys(value, []);
  const doc = clean.value as Record<string, unknown>;
  const dto = plainToInstance(ServiceManifestDto, doc);
  const problems = [...clean.problems, ...toProblems(validateSync(dto, OPTIONS), []), ...crossFieldProblems(doc), ...boundsProblems(doc)];
  if (problems.length > LIMITS.issues) return { problems: problems.slice(0, LIMITS.issues), unlisted: problems.length - LIMITS.issues };
  return problems.length > 0 ? { problems } : { draft: toDraft(dto), problems };
}

function nameOf(value: unknown): string | undefined {
  const metadata = isMapping(value) ? value['metadata'] : undefined;
  const name = isMapping(metadata) ? metadata['name'] : undefined;
  return typeof name === 'string' && serviceNameProblem(name) === undefined ? name : undefined;
}

function toProblems(errors: readonly ClassValidationError[], base: readonly PathSegment[]): FieldProblem[] {
  return errors.flatMap((e) => {
    const path = [...base, Array.isArray(e.target) ? Number(e.property) : e.property];
    const own = Object.keys(e.constraints ?? {}).flatMap((name) => constraintProblems(name, e, path));
    return [...own, ...toProblems(e.children ?? [], path)];
  });
}

function constraintProblems(name: string, e: ClassValidationError, path: readonly PathSegment[]): FieldProblem[] {
  if (name === 'whitelistValidation') {
    const known = e.target ? knownFields(e.target.constructor as new () => unknown) : [];
    return [{ path, message: unknownFieldMessage(e.property, known), onKey: true }];
  }
  if (name === 'nestedValidation') return [{ path, message: `must be a mapping (got ${describeValue(e.value)})` }];
  const rule = ruleFor(name);
  if (!rule) return [{ path, message: e.constraints?.[name] ?? 'is invalid' }];
  return rule(e.value).map((p) => ({
    path: [...path, ...(p.at ?? [])],
    message: p.message,
    ...(p.onKey ? { onKey: true } : {}),
  }));
}

const RESERVED_KEYS = new Set(['__proto__', 'constructor']);

/**
 * A copy of `value` without keys named "__proto__" or "constructor", and a problem for each one.
 * class-transformer drops such keys from DTOs (so the whitelist would never see them) and fails
 * on plain mappings that have them; refusing them everywhere keeps every key accounted for.
 */
function withoutReservedKeys(value: unknown, path: readonly PathSegment[]): { value: unknown; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const walk = (v: unknown, at: readonly PathSegment[]): unknown => {
    if (Array.isArray(v)) return v.map((item: unknown, i) => walk(item, [...at, i]));
    if (!isMapping(v)) return v;
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(v)) {
      if (RESERVED_KEYS.has(key)) problems.push({ path: [...at, key], message: 'is a reserved name and cannot be used as a key', onKey: true });
      else copy[key] = walk(item, [...at, key]);
    }
    return copy;
  };
  return { value: walk(value, path), problems };
}
