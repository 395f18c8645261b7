import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig, parseConfigFile } from './config.js';
import { publishedConfigSchema } from './config-schema.js';

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
