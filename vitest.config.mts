import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// Tests import workspace packages from source, so no build is needed to run them.
// SWC (not esbuild) compiles the tests because NestJS DI needs decorator metadata.
// A subpath entry goes first: an alias also matches every import that starts with it and a slash.
const alias: Record<string, string> = { '@berth/store/testing': resolve(import.meta.dirname, 'libs/store/src/testing/index.ts') };
for (const root of ['libs', 'apps']) {
  for (const dir of readdirSync(resolve(import.meta.dirname, root))) {
    alias[`@berth/${dir}`] = resolve(import.meta.dirname, root, dir, 'src/index.ts');
  }
}

const shared = {
  plugins: [swc.vite({ module: { type: 'es6' } })],
  resolve: { alias },
};

export default defineConfig({
  test: {
    projects: [
      { ...shared, test: { name: 'unit', include: ['libs/*/src/**/*.spec.ts', 'apps/*/src/**/*.spec.ts'], environment: 'node' } },
      {
        ...shared,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        // `npm run bench` only: figures, not verdicts (not part of `npm test`).
        ...shared,
        test: {
          name: 'bench',
          include: ['test/bench/**/*.test.ts'],
          testTimeout: 1_800_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        ...shared,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
