import { MAX_SERVICE_NAME } from './service';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Why `name` is not a valid service name, or undefined when it is. */
export function serviceNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name.length > MAX_SERVICE_NAME) return `must be at most ${MAX_SERVICE_NAME} characters (got ${name.length})`;
  if (!DNS1123_LABEL.test(name)) {
    return `"${name}" is not a DNS-1123 label (lowercase letters, digits and "-", starting and ending with a letter or digit)`;
  }
  return undefined;
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Why a label key is invalid (Kubernetes' rules: optional DNS prefix + name ≤ 63). */
export function labelKeyProblem(key: string): string | undefined {
  const name = key.includes('/') ? key.slice(key.indexOf('/') + 1) : key;
  if (!LABEL_KEY.test(key) || name.length > 63 || key.length > 253) return `"${key}" is not a valid label key`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  if (value.length > 63 || !LABEL_VALUE.test(value)) return `"${value}" is not a valid label value`;
  return undefined;
}
