import tseslint from 'typescript-eslint';

const CLIENT_ONLY = 'The console is a client of the server: it reaches it over HTTP through @tollgate/sdk and imports nothing of it.';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'screenshots/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: [{ regex: '^@tollgate/server', message: CLIENT_ONLY }, { regex: String.raw`(^|/)server/src/`, message: CLIENT_ONLY }] }],
    },
  },
);
