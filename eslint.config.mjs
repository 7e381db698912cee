import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'libs/proto/src/gen/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    plugins: { import: importPlugin },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.js'] } },
      'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import/no-cycle': ['error', { maxDepth: 10, ignoreExternal: true }],
      // Libraries never reach into apps, and nothing imports NestJS outside the control plane.
      'no-restricted-imports': 'off',
    },
  },
  {
    files: ['libs/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['@nestjs/*'], message: 'libraries must not depend on NestJS' },
        { group: ['@berth/control-plane', '@berth/cli', '@berth/agent', '**/apps/**'], message: 'libraries never import apps' },
      ] }],
    },
  },
  {
    // The scheduler loop is the only writer of a task's nodeName: its store role (SchedulerWrites)
    // is bound in infra.module.ts and handed to it by the leader runner, and appears nowhere else.
    files: ['apps/**/*.ts'],
    ignores: [
      'apps/control-plane/src/scheduling/scheduler.loop.ts',
      'apps/control-plane/src/leader/leader.runner.ts',
      'apps/control-plane/src/infra.module.ts',
      'apps/control-plane/src/tokens.ts',
    ],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: '@berth/store', importNames: ['SchedulerWrites', 'Store'], message: 'take the store roles you use (StoreReads, ServiceWrites…); only the scheduler loop gets SchedulerWrites' }],
        patterns: [{ group: ['**/tokens'], importNames: ['SCHEDULER_WRITES'], message: 'only the scheduler loop writes nodeName (see eslint.config.mjs)' }],
      }],
    },
  },
  // The CommonJS launcher that npm links as `berth`.
  { files: ['apps/cli/bin/*.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
