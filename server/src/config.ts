import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigFileSchema, MeterSchema, OperationSchema, PlanSchema, type ConfigFile } from './config-schema.js';
import { ConfigError, envBoolean, envChoice, envInteger, envUrl, urlProblem, type Env, type UrlKind } from './config-values.js';
import { Email, PASSWORD_MAX_LENGTH, Password } from './http/schemas.js';
import { passesAsBody } from './http/validation.js';
import { LOG_LEVELS, type LogLevel } from './lib/logger.js';
import { mailLink } from './lib/mailer.js';

export { ConfigError } from './config-values.js';

/**
 * The only place that reads process.env or the config file. Everything below
 * receives a frozen Config from the composition root.
 */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  /** Role the server SET ROLEs to on PostgreSQL; '' means use the login role as is. */
  readonly databaseAppRole: string;
  readonly databasePoolSize: number;
  /** How long a new PostgreSQL connection may take to be ready before the call fails 503. */
  readonly databaseConnectTimeoutSeconds: number;
  readonly redisUrl: string | undefined;
  readonly configPath: string;
  readonly secretKey: string | undefined;
  /** Master secrets being rotated out (TOLLGATE_SECRET_KEY_PREVIOUS, comma-separated): what they sealed still opens. */
  readonly secretKeyPrevious: readonly string[];
  readonly publicUrl: string | undefined;
  readonly logLevel: LogLevel;
  /** Trust X-Forwarded-For (behind a load balancer) so per-client limits see the client's address. */
  readonly trustProxy: boolean;
  readonly bootstrapOperator: { email: string; password: string } | undefined;
  /** Stripe webhook signing secrets (STRIPE_WEBHOOK_SECRET, comma-separated: several during a rotation). */
  readonly stripeWebhookSecrets: readonly string[];
  /** The id of the PayPal webhook whose events Tollgate accepts (PAYPAL_WEBHOOK_ID). */
  readonly paypalWebhookId: string | undefined;
  /** Where mail goes (TOLLGATE_SMTP_URL, else mail.smtpUrl); none: no mail is sent. */
  readonly smtpUrl: string | undefined;
  /** The From of every mail (TOLLGATE_MAIL_FROM, else mail.from). */
  readonly mailFrom: string;
  /** Outbound webhooks may reach private and loopback addresses (TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS, else webhooks.allowPrivateTargets). */
  readonly webhooksAllowPrivateTargets: boolean;
  /** Server processes (`tollgate serve`); more than one needs PostgreSQL and Redis. */
  readonly workers: number;
  readonly file: ConfigFile;
}

export const DEFAULT_CONFIG_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../tollgate.config.yaml');

/**
 * The shortest master secret taken: 32 characters (`openssl rand -base64 32` gives 44).
 * Whoever holds what it sealed (a database dump) can try guesses of a short one offline.
 */
export const SECRET_MIN_LENGTH = 32;

/**
 * Reads the environment and the config file, once. An empty variable means what it meant
 * before: unset where a missing value turns something off or falls back (the URLs, the
 * secrets, the switches, TOLLGATE_CONFIG), a value where '' is one (TOLLGATE_DB_ROLE), and
 * an error where a value is needed (the numbers, HOST, LOG_LEVEL): '' is no port, no
 * address, no level.
 */
export function loadConfig(options: { env?: Env; configPath?: string } = {}): Config {
  const env = options.env ?? process.env;
  // `npm start` runs in the server workspace; relative paths mean the directory npm was started from.
  const base = env.INIT_CWD ?? process.cwd();
  const configPath = options.configPath || env.TOLLGATE_CONFIG ? resolve(base, (options.configPath ?? env.TOLLGATE_CONFIG)!) : DEFAULT_CONFIG_PATH;
  if (!existsSync(configPath)) throw new ConfigError(`config file not found: ${configPath}`);
  const file = parseConfigFile(readFileSync(configPath, 'utf8'), configPath);
  const host = env.HOST ?? '127.0.0.1';
  if (host.trim() === '') throw new ConfigError('HOST: must not be empty (unset, the server listens on 127.0.0.1)');
  const workers = envInteger(env, 'TOLLGATE_WORKERS', { fallback: 1, min: 1, max: 64 });
  const databaseUrl = envUrl(env, 'DATABASE_URL', 'postgres');
  const redisUrl = envUrl(env, 'REDIS_URL', 'redis');
  // Workers share nothing but the database and the rate-limit store: PGlite lives in one
  // process, and in-memory buckets would give each worker the whole limit.
  if (workers > 1 && !databaseUrl) throw new ConfigError('TOLLGATE_WORKERS above 1 needs DATABASE_URL (embedded PGlite serves one process)');
  if (workers > 1 && !redisUrl) throw new ConfigError('TOLLGATE_WORKERS above 1 needs REDIS_URL (rate-limit buckets are shared through Redis)');
  const secretKey = env.TOLLGATE_SECRET_KEY || undefined;
  if (secretKey !== undefined && secretKey.length < SECRET_MIN_LENGTH) {
    throw new ConfigError(`TOLLGATE_SECRET_KEY: must be at least ${SECRET_MIN_LENGTH} characters (e.g. openssl rand -base64 32); ` +
      'to move off a shorter one, set it as TOLLGATE_SECRET_KEY_PREVIOUS and run tollgate secrets reseal');
  }
  return Object.freeze({
    host,
    port: envInteger(env, 'PORT', { fallback: 8787, min: 0, max: 65535 }),
    dataDir: resolve(base, env.TOLLGATE_DATA_DIR ?? './.tollgate'),
    databaseUrl,
    databaseAppRole: env.TOLLGATE_DB_ROLE ?? 'tollgate_app',
    databasePoolSize: envInteger(env, 'TOLLGATE_DB_POOL_SIZE', { fallback: 20, min: 1, max: 1000 }),
    databaseConnectTimeoutSeconds: envInteger(env, 'TOLLGATE_DB_CONNECT_TIMEOUT', { fallback: 5, min: 1, max: 600 }),
    redisUrl,
    configPath,
    secretKey,
    // Not held to SECRET_MIN_LENGTH: a secret being rotated out only opens what it sealed, and a
    // short one is retired exactly this way.
    secretKeyPrevious: Object.freeze(commaList(env.TOLLGATE_SECRET_KEY_PREVIOUS)),
    publicUrl: envUrl(env, 'TOLLGATE_PUBLIC_URL', 'http'),
    logLevel: envChoice(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    trustProxy: envBoolean(env, 'TOLLGATE_TRUST_PROXY') ?? false,
    bootstrapOperator: bootstrapOperator(env, file),
    stripeWebhookSecrets: Object.freeze(commaList(env.STRIPE_WEBHOOK_SECRET)),
    paypalWebhookId: env.PAYPAL_WEBHOOK_ID?.trim() || undefined,
    workers,
    webhooksAllowPrivateTargets: envBoolean(env, 'TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS') ?? file.webhooks.allowPrivateTargets,
    // The file's mail.smtpUrl was checked with the file.
    smtpUrl: envUrl(env, 'TOLLGATE_SMTP_URL', 'smtp') ?? file.mail.smtpUrl,
    mailFrom: env.TOLLGATE_MAIL_FROM || file.mail.from,
    file: deepFreeze(file),
  });
}

const commaList = (text: string | undefined): string[] => (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/**
 * The operator made at boot, held to what signup and sign-in take: an address the email
 * format passes and a password of auth.passwordMinLength to the routes' longest. One made
 * with less was created all the same, and could never sign in (an email the token route
 * refuses) or had a password signup would have refused.
 */
function bootstrapOperator(env: Env, file: ConfigFile): Config['bootstrapOperator'] {
  const email = env.TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL;
  const password = env.TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD;
  if (Boolean(email) !== Boolean(password)) {
    throw new ConfigError('TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL and TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD go together');
  }
  if (!email || !password) return undefined;
  if (!passesAsBody(Email, email)) throw new ConfigError('TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL: must be an email address, as signup takes');
  const min = file.auth.passwordMinLength;
  if (password.length < min || !passesAsBody(Password, password)) {
    throw new ConfigError(`TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: must be ${min} to ${PASSWORD_MAX_LENGTH} characters (auth.passwordMinLength)`);
  }
  return { email, password };
}

/** Parses YAML or JSON text, applies defaults and validates; errors name the offending key. */
export function parseConfigFile(text: string, source = 'config'): ConfigFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML/JSON: ${(error as Error).message}`);
  }
  const withDefaults = Value.Default(ConfigFileSchema, Value.Clone(raw));
  defaultRecordValues(withDefaults);
  const errors = [...Value.Errors(ConfigFileSchema, withDefaults)]
    .filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'boolean');
  if (errors.length > 0) {
    const lines = errors.slice(0, 10).map((e) => `  ${keyPath(e.instancePath, e.params)}: ${e.message}`);
    throw new ConfigError(`${source}: invalid configuration\n${lines.join('\n')}`);
  }
  const file = withDefaults as ConfigFile;
  checkReferences(file, source);
  return file;
}

/** TypeBox does not descend into Record values when defaulting, so each entry is defaulted with its own schema. */
function defaultRecordValues(file: unknown): void {
  if (!file || typeof file !== 'object') return;
  const f = file as Record<string, unknown>;
  const each = (key: string, schema: unknown) => {
    const record = f[key];
    if (!record || typeof record !== 'object' || Array.isArray(record)) return;
    for (const [name, value] of Object.entries(record)) (record as Record<string, unknown>)[name] = Value.Default(schema as never, value);
  };
  each('plans', PlanSchema);
  each('meters', MeterSchema);
  each('operations', OperationSchema);
  const ops = f.operations as Record<string, { cost?: unknown }> | undefined;
  for (const op of Object.values(ops ?? {})) {
    const cost = op?.cost as { type?: string; minimum?: number; ownAccount?: { type?: string; minimum?: number } } | undefined;
    for (const c of [cost, cost?.ownAccount]) {
      if (c && typeof c === 'object' && (c.type === 'per_unit' || c.type === 'per_token') && c.minimum === undefined) c.minimum = 1;
    }
  }
}

function keyPath(instancePath: string, params: unknown): string {
  const extra = (params as { additionalProperties?: string[] })?.additionalProperties;
  const path = instancePath.replace(/^\//, '').replaceAll('/', '.') || '(root)';
  return extra ? `${path === '(root)' ? '' : `${path}.`}${extra.join(', ')} (unknown key)` : path;
}

/** Cross-references JSON Schema cannot express: every name a plan or operation uses must exist, every URL must parse. */
function checkReferences(file: ConfigFile, source: string): void {
  const problems: string[] = [];
  const modules = new Set(file.modules);
  const meters = new Set(Object.keys(file.meters));
  const defaults = Object.entries(file.plans).filter(([, plan]) => plan.default);
  if (defaults.length !== 1) problems.push(`plans: exactly one plan must have default: true (found ${defaults.length})`);
  for (const [planName, plan] of Object.entries(file.plans)) {
    for (const m of plan.modules) if (!modules.has(m)) problems.push(`plans.${planName}.modules: unknown module "${m}"`);
    for (const meter of Object.keys(plan.limits)) if (!meters.has(meter)) problems.push(`plans.${planName}.limits.${meter}: unknown meter`);
  }
  const operationNames = new Set(Object.keys(file.operations));
  for (const [name, op] of Object.entries(file.operations)) {
    if (!modules.has(op.module)) problems.push(`operations.${name}.module: unknown module "${op.module}"`);
    if (op.meter && !meters.has(op.meter)) problems.push(`operations.${name}.meter: unknown meter "${op.meter}"`);
    for (const alias of op.aliases ?? []) {
      if (operationNames.has(alias)) problems.push(`operations.${name}.aliases: "${alias}" is already an operation or alias`);
      operationNames.add(alias);
    }
  }
  for (const [price, plan] of Object.entries(file.billing.stripe.prices)) {
    if (!file.plans[plan]) problems.push(`billing.stripe.prices.${price}: unknown plan "${plan}"`);
  }
  for (const [paypalPlan, plan] of Object.entries(file.billing.paypal.plans)) {
    if (!file.plans[plan]) problems.push(`billing.paypal.plans.${paypalPlan}: unknown plan "${plan}"`);
  }
  file.auth.identityProviders.forEach((idp, i) => {
    if (Boolean(idp.jwksUrl) === Boolean(idp.secret)) problems.push(`auth.identityProviders.${i}: set exactly one of jwksUrl or secret`);
  });
  problems.push(...urlProblems(file));
  if (problems.length > 0) throw new ConfigError(`${source}: invalid configuration\n  ${problems.join('\n  ')}`);
}

/**
 * The file's URLs, parsed as the environment's are (the schema's patterns only look at the
 * start): one that does not parse failed where it was used, in a TypeError that printed it.
 * A mail link is checked as a mail carries it, {token} filled in: a page of your app.
 */
function urlProblems(file: ConfigFile): string[] {
  const urls: [key: string, text: string | undefined, kind: UrlKind][] = [
    ['mail.smtpUrl', file.mail.smtpUrl, 'smtp'],
    ['mail.passwordResetUrl', file.mail.passwordResetUrl && mailLink(file.mail.passwordResetUrl, 'token'), 'http'],
    ['mail.invitationUrl', file.mail.invitationUrl && mailLink(file.mail.invitationUrl, 'token'), 'http'],
    ['billing.paypal.certificateOrigin', file.billing.paypal.certificateOrigin, 'http'],
    ['routing.sts.endpoint', file.routing.sts.endpoint, 'http'],
    ...file.auth.identityProviders.map((idp, i): [string, string | undefined, UrlKind] => [`auth.identityProviders.${i}.jwksUrl`, idp.jwksUrl, 'http']),
  ];
  return urls.flatMap(([key, text, kind]) => {
    const problem = text === undefined ? undefined : urlProblem(text, kind);
    return problem ? [`${key}: ${problem}`] : [];
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
