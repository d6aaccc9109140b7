// ESLint flat config: the recommended JavaScript and typescript-eslint rule sets, plus the few rules the code relies on.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['build/**', 'node_modules/**', 'boot-images/**', '.lab/**', 'vagrant/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      // Unused names are errors, except a leading underscore marks a parameter kept for its position.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // A variable captured by a callback before its one assignment (a socket handler that needs the transfer) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Wire-format validators match control characters on purpose (header values, paths, script text).
      'no-control-regex': 'off',
    },
  },
);
