import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { runTollgate } from '../test/cli-process.js';
import { TEST_SECRET } from '../test/harness.js';
import { removeTempDirs, tempDir } from '../test/temp-dirs.js';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfigFile } from './config.js';
import { publishedConfigSchema } from './config-schema.js';
import { DAY_MS, isStorableInstant } from './lib/clock.js';
import { LOG_LEVELS } from './lib/logger.js';

const shipped = readFileSync(DEFAULT_CONFIG_PATH, 'utf8');

describe('the shipped default config', () => {
  const file = parseConfigFile(shipped);

  it('encodes the plans of the product', () => {
    expect(file.plans.free).toMatchObject({ default: true, enterprise: false, limits: { runs: 10 }, concurrentRuns: 2, creditsPerPeriod: 100, modules: ['planner', 'writer'] });
    expect(file.plans.pro).toMatchObject({ enterprise: false, limits: { runs: 1000 }, concurrentRuns: 10, creditsPerPeriod: 10000 });
    expect(file.plans.pro!.modules).toHaveLength(8);
    expect(file.plans.enterprise).toMatchObject({ enterprise: true, creditsPerPeriod: 100000 });
    expect(file.modules).toEqual(['planner', 'writer', 'thinker', 'automation', 'site_builder', 'linker', 'optimizer', 'publisher']);
    expect(file.meters.runs!.bypassRoles).toEqual(['owner']);
  });

  it('encodes the phase-0 cost table with its legacy aliases, each operation counting runs', () => {
    const cost = (name: string) => file.operations[name]!.cost;
    expect(cost('clustering')).toEqual({ type: 'fixed', credits: 10 });
    expect(cost('idea_generation')).toEqual({ type: 'fixed', credits: 15 });
    expect(cost('content_generation')).toEqual({ type: 'per_unit', unit: 'words', per: 100, credits: 1, minimum: 1 });
    expect(cost('image_prompt_extraction')).toEqual({ type: 'fixed', credits: 2 });
    expect(cost('image_generation')).toEqual({ type: 'fixed', credits: 5 });
    expect(cost('linking')).toEqual({ type: 'fixed', credits: 8 });
    expect(cost('optimization')).toEqual({ type: 'per_unit', unit: 'words', per: 200, credits: 1, minimum: 1 });
    expect(cost('site_structure_generation')).toEqual({ type: 'fixed', credits: 50 });
    expect(cost('site_page_generation')).toEqual({ type: 'fixed', credits: 20 });
    const aliases = Object.fromEntries(Object.entries(file.operations).flatMap(([name, op]) => (op.aliases ?? []).map((a) => [a, name])));
    expect(aliases).toEqual({ ideas: 'idea_generation', content: 'content_generation', images: 'image_generation', reparse: 'image_prompt_extraction' });
    for (const op of Object.values(file.operations)) expect(op.meter).toBe('runs');
  });
});

describe('config validation names the bad key', () => {
  const broken = (mutate: (doc: Record<string, any>) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    const doc = JSON.parse(JSON.stringify(parseConfigFile(shipped)));
    mutate(doc);
    return () => parseConfigFile(JSON.stringify(doc), 'test.yaml');
  };

  it.each([
    ['an unknown top-level key', (d: Record<string, any>) => { d.plnas = {}; }, /plnas \(unknown key\)/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a wrong type', (d: Record<string, any>) => { d.plans.free.creditsPerPeriod = 'lots'; }, /plans\.free\.creditsPerPeriod/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a negative limit', (d: Record<string, any>) => { d.plans.pro.limits.runs = -1; }, /plans\.pro\.limits\.runs/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an unknown module in a plan', (d: Record<string, any>) => { d.plans.free.modules.push('teleporter'); }, /plans\.free\.modules: unknown module "teleporter"/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an operation on an unknown meter', (d: Record<string, any>) => { d.operations.linking.meter = 'links'; }, /operations\.linking\.meter/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['two default plans', (d: Record<string, any>) => { d.plans.pro.default = true; }, /exactly one plan must have default/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an alias that shadows an operation', (d: Record<string, any>) => { d.operations.linking.aliases = ['clustering']; }, /operations\.linking\.aliases/], // eslint-disable-line @typescript-eslint/no-explicit-any
    ['an identity provider with neither JWKS nor secret', (d: Record<string, any>) => { d.auth.identityProviders = [{ name: 'x', issuer: 'i', audience: 'a' }]; }, /auth\.identityProviders\.0: set exactly one/], // eslint-disable-line @typescript-eslint/no-explicit-any
  ])('%s', (_label, mutate, message) => {
    expect(broken(mutate)).toThrow(ConfigError);
    expect(broken(mutate)).toThrow(message);
  });

  it('a config file written before the credentials scope existed still loads, with its default', () => {
    const doc = JSON.parse(JSON.stringify(parseConfigFile(shipped)));
    delete doc.rateLimits.scopes.credentials;
    expect(parseConfigFile(JSON.stringify(doc), 'older.yaml').rateLimits.scopes.credentials).toEqual({ limit: 600, windowSeconds: 60, failMode: 'open' });
  });

  it('rejects text that is not YAML', () => {
    expect(() => parseConfigFile('plans: [unclosed', 'x.yaml')).toThrow(/not valid YAML/);
  });

  it('reads the environment of API.md once, with defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8787, databaseUrl: undefined });
    expect(config.dataDir.endsWith('.tollgate')).toBe(true);
    expect(Object.isFrozen(config) && Object.isFrozen(config.file.plans)).toBe(true);
    expect(() => loadConfig({ env: { PORT: 'eighty' } })).toThrow(/PORT/);
    expect(() => loadConfig({ env: { TOLLGATE_CONFIG: '/nonexistent.yaml' } })).toThrow(/not found/);
    expect(() => loadConfig({ env: { TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: 'a@b.c' } })).toThrow(/go together/);
  });

  it('a new database connection gets 5 seconds unless configured, not the driver\'s 30', () => {
    expect(loadConfig({ env: {} }).databaseConnectTimeoutSeconds).toBe(5);
    expect(loadConfig({ env: { TOLLGATE_DB_CONNECT_TIMEOUT: '2' } }).databaseConnectTimeoutSeconds).toBe(2);
    for (const bad of ['0', '1.5', 'soon', '-3']) expect(() => loadConfig({ env: { TOLLGATE_DB_CONNECT_TIMEOUT: bad } })).toThrow(/TOLLGATE_DB_CONNECT_TIMEOUT/);
  });

  it('several workers need PostgreSQL and Redis: PGlite serves one process, in-memory buckets would multiply the limits', () => {
    expect(loadConfig({ env: {} }).workers).toBe(1);
    const shared = { DATABASE_URL: 'postgres://db/x', REDIS_URL: 'redis://r:6379' };
    expect(loadConfig({ env: { ...shared, TOLLGATE_WORKERS: '4' } }).workers).toBe(4);
    expect(() => loadConfig({ env: { REDIS_URL: shared.REDIS_URL, TOLLGATE_WORKERS: '2' } })).toThrow(/needs DATABASE_URL/);
    expect(() => loadConfig({ env: { DATABASE_URL: shared.DATABASE_URL, TOLLGATE_WORKERS: '2' } })).toThrow(/needs REDIS_URL/);
    for (const bad of ['0', '1.5', 'two', '65']) expect(() => loadConfig({ env: { ...shared, TOLLGATE_WORKERS: bad } })).toThrow(/TOLLGATE_WORKERS/);
  });

  it('the published JSON Schema file is the schema the server validates with, a key with a default not required', () => {
    const published = JSON.parse(readFileSync(fileURLToPath(new URL('../tollgate.config.schema.json', import.meta.url)), 'utf8'));
    expect(published).toEqual(publishedConfigSchema());
    // What a file may leave out, the loader fills in; what it must say stays required.
    expect(published.required).toEqual(['version', 'rateLimits', 'modules', 'meters', 'plans', 'operations']);
    expect(published.properties.rateLimits.properties.scopes.required).toEqual(['api', 'auth', 'authorize']);
    expect(published.properties.rateLimits.properties.scopes.properties.credentials.required).toEqual(['limit', 'windowSeconds']);
    expect(published.properties.auth.required).toBeUndefined();
  });

  it('a file that leaves out what the published schema does not require loads, with the defaults', () => {
    const doc = JSON.parse(JSON.stringify(parseConfigFile(shipped)));
    for (const key of ['issuer', 'audience', 'auth', 'billing', 'metering']) delete doc[key];
    for (const scope of Object.values<Record<string, unknown>>(doc.rateLimits.scopes)) delete scope.failMode;
    delete doc.rateLimits.scopes.credentials;
    delete doc.rateLimits.bypassPrincipals;
    for (const plan of Object.values<Record<string, unknown>>(doc.plans)) for (const key of ['enterprise', 'features', 'models']) delete plan[key];
    delete doc.meters.runs.bypassRoles;
    delete doc.operations.content_generation.cost.minimum;
    const file = parseConfigFile(JSON.stringify(doc), 'sparse.yaml');
    expect(file.metering.groupCommit).toBe(true);
    expect(file.rateLimits.scopes.api.failMode).toBe('open');
    expect(file.plans.pro).toMatchObject({ enterprise: false, features: [], models: ['*'] });
    expect(file.meters.runs!.bypassRoles).toEqual([]);
    expect(file.operations.content_generation!.cost).toMatchObject({ minimum: 1 });
  });
});

/** The ConfigError loadConfig throws for `env` (a test fails if it throws none, or another error). */
function refusal(env: Record<string, string>, configPath?: string): ConfigError {
  try {
    loadConfig({ env, ...(configPath ? { configPath } : {}) });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`loaded: ${Object.keys(env).join(', ')}`);
}

describe('URL variables are parsed at load; a refusal names the variable, never the URL', () => {
  it.each([
    ['TOLLGATE_SMTP_URL', 'smtp://mailuser:S3cretPass@mail.example.com:99999', 'S3cretPass'],
    ['DATABASE_URL', 'postgres://dbuser:DbS3cret@127.0.0.1:99999/postgres', 'DbS3cret'],
    ['REDIS_URL', 'redis://:RedisS3cret@127.0.0.1:99999', 'RedisS3cret'],
    ['DATABASE_URL', 'postgres://dbuser:DbS3cret@db1:5432,db2:99999/postgres', 'DbS3cret'],
  ])('%s with a port out of range', (name, url, password) => {
    const error = refusal({ [name]: url });
    expect(error.message).toMatch(new RegExp(`^${name}: must be a URL starting`));
    expect(error.message).not.toContain(password);
    expect(error.message).not.toMatch(/127\.0\.0\.1|example\.com|db2/);
  });

  it.each([
    ['TOLLGATE_SMTP_URL', 'http://mail.example.com:25', /smtp:\/\/ or smtps:\/\//],
    ['TOLLGATE_SMTP_URL', 'smtp://', /with a host/],
    ['DATABASE_URL', 'mysql://u:p@db/x', /postgres:\/\/ or postgresql:\/\//],
    ['DATABASE_URL', 'postgres://u:p@db:0/x', /port from 1 to 65535/],
    ['REDIS_URL', 'http://cache:6379', /redis:\/\/ or rediss:\/\//],
    ['TOLLGATE_PUBLIC_URL', 'api.example.com', /http:\/\/ or https:\/\/.*does not parse/],
    ['TOLLGATE_PUBLIC_URL', 'ftp://api.example.com', /http:\/\/ or https:\/\//],
    ['TOLLGATE_PUBLIC_URL', 'https://api.example.com:70000', /does not parse/],
  ])('%s=%s is refused', (name, url, message) => {
    expect(refusal({ [name]: url }).message).toMatch(message);
  });

  it('takes what the drivers take, and an empty variable as unset', () => {
    const config = loadConfig({ env: {
      DATABASE_URL: 'postgresql://u:p%40ss@db1:5432,db2:5433/app?sslmode=require', REDIS_URL: 'rediss://:pw@cache:6380/2',
      TOLLGATE_SMTP_URL: 'smtps://u:pw@mail.example.com', TOLLGATE_PUBLIC_URL: 'https://api.example.com',
    } });
    expect(config).toMatchObject({ redisUrl: 'rediss://:pw@cache:6380/2', smtpUrl: 'smtps://u:pw@mail.example.com', publicUrl: 'https://api.example.com' });
    // postgres.js reaches a socket directory named by ?host=, with no host before the path.
    expect(loadConfig({ env: { DATABASE_URL: 'postgres:///app?host=/run/postgresql' } }).databaseUrl).toBe('postgres:///app?host=/run/postgresql');
    expect(loadConfig({ env: { DATABASE_URL: '', REDIS_URL: '', TOLLGATE_SMTP_URL: '', TOLLGATE_PUBLIC_URL: '' } }))
      .toMatchObject({ databaseUrl: undefined, redisUrl: undefined, smtpUrl: undefined, publicUrl: undefined });
  });

  it('the config file\'s URLs too, by key', () => {
    const withFile = (mutate: (doc: Record<string, any>) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const doc = JSON.parse(JSON.stringify(parseConfigFile(shipped)));
      mutate(doc);
      return () => parseConfigFile(JSON.stringify(doc), 'test.yaml');
    };
    const smtp = withFile((d) => { d.mail.smtpUrl = 'smtp://mailuser:FileS3cret@mail.example.com:99999'; });
    expect(smtp).toThrow(/mail\.smtpUrl: must be a URL starting smtp:\/\//);
    expect(smtp).not.toThrow(/FileS3cret/);
    expect(withFile((d) => { d.mail.passwordResetUrl = '/reset?token={token}'; })).toThrow(/mail\.passwordResetUrl: must be a URL starting http/);
    expect(withFile((d) => { d.mail.invitationUrl = 'https://app.example.com:0/join/{token}'; })).toThrow(/mail\.invitationUrl/);
    expect(withFile((d) => { d.routing.sts.endpoint = 'https://sts.internal:70000'; })).toThrow(/routing\.sts\.endpoint/);
    expect(withFile((d) => { d.auth.identityProviders = [{ name: 'x', issuer: 'i', audience: 'a', jwksUrl: 'https://idp:99999/jwks' }]; }))
      .toThrow(/auth\.identityProviders\.0\.jwksUrl/);
    expect(withFile((d) => { d.mail.passwordResetUrl = 'https://app.example.com/reset?token={token}'; d.mail.smtpUrl = 'smtp://u:p@mail:587'; })).not.toThrow();
  });

  it('a process given one stops with the ConfigError (exit 2), the password nowhere in what it printed', async () => {
    const dataDir = tempDir('config-url');
    try {
      const run = await runTollgate(dataDir, ['serve'], { env: {
        TOLLGATE_DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', TOLLGATE_SMTP_URL: 'smtp://mailuser:S3cretPass@mail.example.com:99999',
      } });
      expect(run.stderr.trim()).toBe('TOLLGATE_SMTP_URL: must be a URL starting smtp:// or smtps://; it does not parse ' +
        '(a port is 1 to 65535; reserved characters in a user or password are percent-encoded)');
      expect(run.code).toBe(2);
      expect(run.stdout + run.stderr).not.toContain('S3cretPass');
    } finally {
      removeTempDirs();
    }
  }, 120_000);
});

describe('lifetimes, graces and delays have a maximum', () => {
  const unitMs = { Seconds: 1000, Days: DAY_MS, Ms: 1 } as const;
  /** Every integer setting named …Seconds, …Days or …Ms in the published schema, by its path. */
  const timeSettings = (schema: unknown, path = ''): [string, { maximum?: number }, number][] => {
    if (!schema || typeof schema !== 'object') return [];
    const node = schema as Record<string, unknown>;
    const children = [
      ...Object.entries((node.properties ?? {}) as Record<string, unknown>),
      ...Object.values((node.patternProperties ?? {}) as Record<string, unknown>).map((child) => ['*', child] as [string, unknown]),
      ...((node.anyOf ?? []) as unknown[]).map((child) => ['', child] as [string, unknown]),
    ];
    return children.flatMap(([key, child]) => {
      const at = key ? (path ? `${path}.${key}` : key) : path;
      const unit = /(Seconds|Days|Ms)$/.exec(key)?.[1] as keyof typeof unitMs | undefined;
      const own: [string, { maximum?: number }, number][] = unit && (child as { type?: string }).type === 'integer' ? [[at, child as { maximum?: number }, unitMs[unit]]] : [];
      return [...own, ...timeSettings(child, at)];
    });
  };

  it('each keeps now + it a date PostgreSQL stores', () => {
    const settings = timeSettings(publishedConfigSchema());
    expect(settings.map(([path]) => path)).toEqual(expect.arrayContaining([
      'auth.refreshTokenTtlSeconds', 'auth.invitationTtlSeconds', 'auth.passwordResetTtlSeconds', 'auth.signingKeyRotationDays',
      'billing.pastDueGraceSeconds', 'webhooks.disableAfterSeconds', 'plans.*.rateLimit.windowSeconds',
    ]));
    const unbounded = settings.filter(([, schema]) => schema.maximum === undefined).map(([path]) => path);
    expect(unbounded).toEqual([]);
    for (const [path, schema, ms] of settings) expect(isStorableInstant(Date.now() + schema.maximum! * ms), path).toBe(true);
  });

  it.each(['refreshTokenTtlSeconds', 'invitationTtlSeconds', 'passwordResetTtlSeconds'])('auth.%s of 1e13 is refused; 10 years loads', (key) => {
    const doc = JSON.parse(JSON.stringify(parseConfigFile(shipped)));
    doc.auth[key] = 1e13;
    expect(() => parseConfigFile(JSON.stringify(doc), 'test.yaml')).toThrow(new RegExp(`auth\\.${key}`));
    doc.auth[key] = 315_360_000;
    expect(parseConfigFile(JSON.stringify(doc), 'test.yaml').auth[key as 'invitationTtlSeconds']).toBe(315_360_000);
  });
});

describe('the environment is read strictly', () => {
  it('LOG_LEVEL is one of pino\'s levels', () => {
    expect([...LOG_LEVELS].sort()).toEqual([...Object.keys(pino.levels.values), 'silent'].sort());
    expect(refusal({ LOG_LEVEL: 'verbose' }).message).toBe('LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent');
    expect(() => loadConfig({ env: { LOG_LEVEL: '' } })).toThrow(/LOG_LEVEL/);
    expect(loadConfig({ env: { LOG_LEVEL: 'debug' } }).logLevel).toBe('debug');
  });

  it('a number is decimal digits in range: no empty, hex, exponent, sign or fraction', () => {
    for (const bad of ['', '0x1F90', '1e3', '+80', ' 80', '80.0', '-1', '65536']) expect(refusal({ PORT: bad }).message, bad).toMatch(/^PORT: must be a whole number from 0 to 65535/);
    expect(loadConfig({ env: { PORT: '0' } }).port).toBe(0);
    expect(loadConfig({ env: { PORT: '8080' } }).port).toBe(8080);
    for (const bad of ['1e3', '', '0x10', '0', '1001']) expect(refusal({ TOLLGATE_DB_POOL_SIZE: bad }).message, bad).toMatch(/^TOLLGATE_DB_POOL_SIZE: /);
    expect(loadConfig({ env: { TOLLGATE_DB_POOL_SIZE: '50' } }).databasePoolSize).toBe(50);
    expect(refusal({ TOLLGATE_DB_CONNECT_TIMEOUT: '1e1' }).message).toMatch(/^TOLLGATE_DB_CONNECT_TIMEOUT: /);
  });

  it('a switch is true, false, 1 or 0; anything else is refused, not read as false', () => {
    for (const name of ['TOLLGATE_TRUST_PROXY', 'TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS']) {
      for (const bad of ['yes', 'on', '2', ' true']) expect(refusal({ [name]: bad }).message, bad).toBe(`${name}: must be true, false, 1 or 0`);
    }
    const read = (value: string) => loadConfig({ env: { TOLLGATE_TRUST_PROXY: value } }).trustProxy;
    expect([read('true'), read('TRUE'), read('1'), read('false'), read('False'), read('0'), read('')]).toEqual([true, true, true, false, false, false, false]);
  });

  it('HOST is not empty', () => {
    for (const bad of ['', ' ']) expect(refusal({ HOST: bad }).message).toMatch(/^HOST: must not be empty/);
    expect(loadConfig({ env: { HOST: '0.0.0.0' } }).host).toBe('0.0.0.0');
  });

  it('TOLLGATE_SECRET_KEY is at least 32 characters; one being rotated out may be shorter', () => {
    const short = 'short-master-secret-0123456789';
    const error = refusal({ TOLLGATE_SECRET_KEY: short });
    expect(error.message).toMatch(/^TOLLGATE_SECRET_KEY: must be at least 32 characters/);
    expect(error.message).not.toContain(short);
    expect(loadConfig({ env: { TOLLGATE_SECRET_KEY: 'x'.repeat(32) } }).secretKey).toBe('x'.repeat(32));
    expect(loadConfig({ env: { TOLLGATE_SECRET_KEY: TEST_SECRET } }).secretKey).toBe(TEST_SECRET);
    // The way off a short secret: it opens what it sealed until `tollgate secrets reseal`.
    expect(loadConfig({ env: { TOLLGATE_SECRET_KEY: TEST_SECRET, TOLLGATE_SECRET_KEY_PREVIOUS: short } }).secretKeyPrevious).toEqual([short]);
    expect(loadConfig({ env: { TOLLGATE_SECRET_KEY: '' } }).secretKey).toBeUndefined();
  });
});

describe('the bootstrap operator is one that can sign in', () => {
  const operator = (email: string, password: string) => ({ TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: email, TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: password });

  it('its email is one signup takes', () => {
    for (const bad of ['not-an-email', 'ops@', '@example.com', 'ops example@example.com']) {
      const error = refusal(operator(bad, 'operator-password-1'));
      expect(error.message).toBe('TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: must be an email address, as signup takes');
    }
    expect(loadConfig({ env: operator('ops@example.com', 'operator-password-1') }).bootstrapOperator).toEqual({ email: 'ops@example.com', password: 'operator-password-1' });
  });

  it('its password is auth.passwordMinLength (as configured) to 256 characters, and never said', () => {
    const error = refusal(operator('ops@example.com', 'short-pw1'));
    expect(error.message).toBe('TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: must be 10 to 256 characters (auth.passwordMinLength)');
    expect(refusal(operator('ops@example.com', 'x'.repeat(257))).message).toMatch(/^TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: /);
    const dir = tempDir('config-min');
    try {
      const path = join(dir, 'tollgate.config.yaml');
      writeFileSync(path, `${shipped}\nauth:\n  passwordMinLength: 16\n`);
      expect(parseConfigFile(readFileSync(path, 'utf8')).auth.passwordMinLength).toBe(16);
      expect(refusal(operator('ops@example.com', 'fifteen-chars-1'), path).message).toMatch(/must be 16 to 256 characters/);
      expect(loadConfig({ env: operator('ops@example.com', 'sixteen-chars-12'), configPath: path }).bootstrapOperator?.password).toBe('sixteen-chars-12');
    } finally {
      removeTempDirs();
    }
  });

  it('one without the other is refused', () => {
    expect(refusal({ TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: 'operator-password-1' }).message).toMatch(/go together/);
  });
});
