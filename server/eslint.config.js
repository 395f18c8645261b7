import tseslint from 'typescript-eslint';

const INTERNALS = 'Import another module only through its index.ts.';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration in src/config.ts only.' }],
      // A module's index.ts is its only public surface: no other module, nor the app or a
      // test outside the module, imports anything else of it.
      'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`(^|/)modules/[^/]+/(?!index\.js$)[^/]+$`, message: INTERNALS }] }],
    },
  },
  {
    // Inside a module, `../x/…` is another module.
    files: ['src/modules/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`^\.\./[^./][^/]*/(?!index\.js$)[^/]+$`, message: INTERNALS }] }] },
  },
  {
    // config.ts parses the environment; the test harness and CLI entry choose databases.
    files: ['src/config.ts', 'test/**', 'bin/**', '**/*.test.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
