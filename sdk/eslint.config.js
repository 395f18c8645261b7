import tseslint from 'typescript-eslint';

const BROWSER = 'The client runs in browsers too (the console): fetch, Request, AbortSignal and Web Crypto only, nothing of Node.';

export default tseslint.config(
  { ignores: ['node_modules/**', 'src/generated/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '^node:', message: BROWSER }, { regex: '^(fs|os|path|http|https|net|crypto|child_process|url|util|stream|events|buffer|process)(/|$)', message: BROWSER }] }],
      'no-restricted-globals': ['error', { name: 'process', message: BROWSER }, { name: 'Buffer', message: BROWSER }, { name: 'require', message: BROWSER }],
    },
  },
);
