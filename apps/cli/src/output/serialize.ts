import { stringify } from 'yaml';

/** `-o json` / `-o yaml`: the API's objects as they came, lists as arrays. */
export function serialize(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? JSON.stringify(value, null, 2) : stringify(value, { lineWidth: 0 }).trimEnd();
}
