import tseslint from 'typescript-eslint';
import { plugin as llm } from '@llm/layering';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'bench/results/**',
      // Fixture workspaces of the layering rule's tests: some files break the rule on purpose.
      'tooling/layering/fixtures/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    plugins: { llm },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'llm/layering': 'error',
    },
  },
);
