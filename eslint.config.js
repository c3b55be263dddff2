import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/build/**', '**/node_modules/**', 'charts/**', '*.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
    },
  },
  // The import direction (docs/code-map.md): api <- common <- {operator, agent}; the two
  // components never import each other. Tests beside the code may reach test/ helpers.
  ...[
    { files: ['api/**/*.ts'], group: ['**/common/**', '**/operator/**', '**/agent/**', '**/cli/**', '**/sandbox/**', 'libbpfjs'], what: 'api/ imports nothing of ours' },
    { files: ['common/**/*.ts'], group: ['**/operator/**', '**/agent/**', '**/cli/**', '**/sandbox/**', 'libbpfjs'], what: 'common/ imports only api/' },
    { files: ['operator/**/*.ts'], group: ['**/agent/**', '**/cli/**', '**/sandbox/**', 'libbpfjs'], what: 'the operator imports api/ and common/ only' },
    { files: ['agent/**/*.ts'], group: ['**/operator/**', '**/cli/**', '**/sandbox/**'], what: 'the agent imports api/, common/ and libbpfjs only' },
  ].map(({ files, group, what }) => ({
    files,
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group, message: `${what} (docs/code-map.md)` }] }] },
  })),
  {
    // Plain Node.js scripts (test traffic tools run inside namespaces without a compiler).
    files: ['**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { parserOptions: { projectService: false, project: false }, globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', setInterval: 'readonly', clearTimeout: 'readonly', clearInterval: 'readonly' } },
  },
  {
    // Jest's asymmetric matchers (expect.objectContaining, ...) are typed `any`.
    files: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
);
