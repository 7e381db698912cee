import { registerDecorator } from 'class-validator';
import * as rules from './rules';
import type { Rule } from './rules';

/**
 * class-validator adapters for the pure rules in `rules.ts`. class-validator decides *that* a
 * field fails; the issue mapper asks the same rule again (through `ruleFor`) for the structured
 * problems — sub-paths and key positions that a plain message string cannot carry.
 */
const registry = new Map<string, Rule>();

/** The rule registered under a class-validator constraint name, if it is one of ours. */
export function ruleFor(constraintName: string): Rule | undefined {
  return registry.get(constraintName);
}

export function Check(rule: Rule): PropertyDecorator {
  const name = `berth${registry.size}`;
  registry.set(name, rule);
  return (target, propertyName) => {
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (value: unknown) => rule(value).length === 0,
        defaultMessage: (args) => rule(args?.value)[0]?.message ?? 'is invalid',
      },
    });
  };
}

export const IsRequired = (rule: Rule): PropertyDecorator => Check(rules.required(rule));
export const IsMapping = (): PropertyDecorator => Check(rules.mapping);
export const IsBoolean = (): PropertyDecorator => Check(rules.boolean);
export const IsList = (): PropertyDecorator => Check(rules.list);
export const IsOneOf = (choices: readonly string[]): PropertyDecorator => Check(rules.oneOf(choices));
export const IsIntegerIn = (min: number, max?: number): PropertyDecorator => Check(rules.integerIn(min, max));
export const IsRatio = (): PropertyDecorator => Check(rules.ratio);
export const IsCpu = (): PropertyDecorator => Check(rules.cpu);
export const IsMemory = (): PropertyDecorator => Check(rules.memory);
export const IsDuration = (): PropertyDecorator => Check(rules.duration);
export const IsPositiveDuration = (): PropertyDecorator => Check(rules.positiveDuration);
export const IsEnv = (): PropertyDecorator => Check(rules.env);
export const IsLabels = (): PropertyDecorator => Check(rules.labels);
export const IsResourceVersion = (): PropertyDecorator => Check(rules.resourceVersion);
export const IsConstraints = (): PropertyDecorator => Check(rules.constraints);
export const IsSpreadBy = (): PropertyDecorator => Check(rules.spreadBy);
