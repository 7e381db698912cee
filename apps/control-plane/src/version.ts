import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The control plane's version: its package's (src/ and dist/ both sit one level below package.json). */
export const BERTH_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
