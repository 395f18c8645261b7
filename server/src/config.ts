import { readFileSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Value from 'typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigFileSchema, MeterSchema, OperationSchema, PlanSchema, type ConfigFile } from './config-schema.js';

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
  readonly logLevel: string;
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

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(options: { env?: Env; configPath?: string } = {}): Config {
  const env = options.env ?? process.env;
  // `npm start` runs in the server workspace; relative paths mean the directory npm was started from.
  const base = env.INIT_CWD ?? process.cwd();
  const configPath = options.configPath || env.TOLLGATE_CONFIG ? resolve(base, (options.configPath ?? env.TOLLGATE_CONFIG)!) : DEFAULT_CONFIG_PATH;
  if (!existsSync(configPath)) throw new ConfigError(`config file not found: ${configPath}`);
  const file = parseConfigFile(readFileSync(configPath, 'utf8'), configPath);
  const port = Number(env.PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`PORT: not a port number: ${env.PORT}`);
  const poolSize = Number(env.TOLLGATE_DB_POOL_SIZE ?? 20);
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new ConfigError('TOLLGATE_DB_POOL_SIZE: must be a positive integer');
  const connectTimeout = Number(env.TOLLGATE_DB_CONNECT_TIMEOUT ?? 5);
  if (!Number.isInteger(connectTimeout) || connectTimeout < 1) throw new ConfigError('TOLLGATE_DB_CONNECT_TIMEOUT: must be a positive whole number of seconds');
  const workers = Number(env.TOLLGATE_WORKERS ?? 1);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new ConfigError(`TOLLGATE_WORKERS: must be an integer from 1 to 64: ${env.TOLLGATE_WORKERS}`);
  // Workers share nothing but the database and the rate-limit store: PGlite lives in one
  // process, and in-memory buckets would give each worker the whole limit.
  if (workers > 1 && !env.DATABASE_URL) throw new ConfigError('TOLLGATE_WORKERS above 1 needs DATABASE_URL (embedded PGlite serves one process)');
  if (workers > 1 && !env.REDIS_URL) throw new ConfigError('TOLLGATE_WORKERS above 1 needs REDIS_URL (rate-limit buckets are shared through Redis)');
  const operatorEmail = env.TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL;
  const operatorPassword = env.TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD;
  if (Boolean(operatorEmail) !== Boolean(operatorPassword)) {
    throw new ConfigError('TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL and TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD go together');
  }
  const smtpUrl = env.TOLLGATE_SMTP_URL || file.mail.smtpUrl;
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) throw new ConfigError('TOLLGATE_SMTP_URL: must start with smtp:// or smtps://');
  return Object.freeze({
    host: env.HOST ?? '127.0.0.1',
    port,
    dataDir: resolve(base, env.TOLLGATE_DATA_DIR ?? './.tollgate'),
    databaseUrl: env.DATABASE_URL || undefined,
    databaseAppRole: env.TOLLGATE_DB_ROLE ?? 'tollgate_app',
    databasePoolSize: poolSize,
    databaseConnectTimeoutSeconds: connectTimeout,
    redisUrl: env.REDIS_URL || undefined,
    configPath,
    secretKey: env.TOLLGATE_SECRET_KEY || undefined,
    secretKeyPrevious: Object.freeze((env.TOLLGATE_SECRET_KEY_PREVIOUS ?? '').split(',').map((s) => s.trim()).filter(Boolean)),
    publicUrl: env.TOLLGATE_PUBLIC_URL || undefined,
    logLevel: env.LOG_LEVEL ?? 'info',
    trustProxy: env.TOLLGATE_TRUST_PROXY === 'true' || env.TOLLGATE_TRUST_PROXY === '1',
    bootstrapOperator: operatorEmail && operatorPassword ? { email: operatorEmail, password: operatorPassword } : undefined,
    stripeWebhookSecrets: Object.freeze((env.STRIPE_WEBHOOK_SECRET ?? '').split(',').map((s) => s.trim()).filter(Boolean)),
    paypalWebhookId: env.PAYPAL_WEBHOOK_ID?.trim() || undefined,
    workers,
    webhooksAllowPrivateTargets: env.TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS !== undefined && env.TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS !== ''
      ? env.TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS === 'true' || env.TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS === '1'
      : file.webhooks.allowPrivateTargets,
    smtpUrl: smtpUrl || undefined,
    mailFrom: env.TOLLGATE_MAIL_FROM || file.mail.from,
    file: deepFreeze(file),
  });
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

/** Cross-references JSON Schema cannot express: every name a plan or operation uses must exist. */
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
  if (problems.length > 0) throw new ConfigError(`${source}: invalid configuration\n  ${problems.join('\n  ')}`);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
