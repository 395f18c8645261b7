import tseslint from 'typescript-eslint';

const INTERNALS = 'Import another module only through its index.ts.';
const CLIENT_ONLY = 'The operator commands are a client of the server: they reach it over HTTP through @tollgate/sdk and import nothing of it.';

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
    // A function a reader can hold in their head; tests are exempt (a table of cases is long, not complex).
    files: ['src/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80 }] },
  },
  {
    // Inside a module, `../x/…` is another module.
    files: ['src/modules/**'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`^\.\./[^./][^/]*/(?!index\.js$)[^/]+$`, message: INTERNALS }] }] },
  },
  {
    // cli/remote is flat: any `../` leaves it, into the server.
    files: ['src/cli/remote/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: String.raw`^\.\./`, message: CLIENT_ONLY }, { regex: '^@tollgate/server', message: CLIENT_ONLY }] }] },
  },
  {
    // config.ts parses the environment; the test harness and CLI entry choose databases; the operator commands' io.ts is their environment.
    files: ['src/config.ts', 'test/**', 'bin/**', '**/*.test.ts', 'src/cli/remote/io.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
);
