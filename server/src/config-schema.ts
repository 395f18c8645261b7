import { Type, type Static } from 'typebox';
import { PASSWORD_MAX_LENGTH } from './http/schemas.js';

/**
 * The schema of tollgate.config.yaml. The published JSON Schema of the file is made from
 * it (publishedConfigSchema: `tollgate config schema` prints it, and
 * tollgate.config.schema.json is generated with it).
 */
/**
 * The longest a lifetime, grace or delay may be: 10 years. Each is added to now to make a
 * date; with no maximum, 1e13 seconds loaded and made every expiry an Invalid Date (each
 * signup answered 500), and 1e12 a year past 9999, which PostgreSQL does not store.
 */
const TEN_YEARS_SECONDS = 315_360_000;
const TEN_YEARS_DAYS = 3650;

const Name = Type.String({ pattern: '^[a-z][a-z0-9_]{0,63}$' });
const Role = Type.Union([Type.Literal('owner'), Type.Literal('admin'), Type.Literal('member')]);

const FixedCost = Type.Object({
  type: Type.Literal('fixed'),
  credits: Type.Integer({ minimum: 0 }),
}, { additionalProperties: false });

const PerUnitCost = Type.Object({
  type: Type.Literal('per_unit'),
  unit: Name,
  per: Type.Integer({ minimum: 1, description: 'credits are charged per this many units, rounded up' }),
  credits: Type.Integer({ minimum: 0 }),
  minimum: Type.Integer({ minimum: 0, default: 1 }),
}, { additionalProperties: false });

const PerTokenCost = Type.Object({
  type: Type.Literal('per_token'),
  models: Type.Record(Type.String({ minLength: 1 }), Type.Object({
    inputPer1k: Type.Number({ minimum: 0 }),
    outputPer1k: Type.Number({ minimum: 0 }),
  }, { additionalProperties: false }), { description: 'model glob → credits per 1,000 tokens' }),
  multiplier: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
  minimum: Type.Integer({ minimum: 0, default: 1 }),
}, { additionalProperties: false });

const OwnAccountCost = Type.Union([FixedCost, PerUnitCost, PerTokenCost], {
  description: 'the price when the call runs on the tenant\'s own provider account (a route of the tenant, billing "tenant"), e.g. a platform fee instead of the token price; without it the same price applies',
});
const ownAccount = { ownAccount: Type.Optional(OwnAccountCost) };

export const OperationSchema = Type.Object({
  module: Name,
  meter: Type.Optional(Name),
  cost: Type.Union([
    Type.Object({ ...FixedCost.properties, ...ownAccount }, { additionalProperties: false }),
    Type.Object({ ...PerUnitCost.properties, ...ownAccount }, { additionalProperties: false }),
    Type.Object({ ...PerTokenCost.properties, ...ownAccount }, { additionalProperties: false }),
  ]),
  aliases: Type.Optional(Type.Array(Name)),
}, { additionalProperties: false });

/** What a plan costs per billing period: what a bank transfer must pay (Stripe and PayPal keep their own prices). */
export const PriceSchema = Type.Object({
  amount: Type.Integer({ minimum: 1, description: 'in the currency\'s minor unit (4900 = 49.00 EUR)' }),
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. EUR' }),
  interval: Type.Union([Type.Literal('month'), Type.Literal('year')], { default: 'month', description: 'the billing period a payment covers' }),
}, { additionalProperties: false, description: 'a plan without a price is free: its periods renew by themselves' });

export const MeterSchema = Type.Object({
  description: Type.Optional(Type.String()),
  bypassRoles: Type.Array(Role, { default: [] }),
}, { additionalProperties: false });

/** Where a call runs when no route of the tenant takes it: the platform's own provider account. */
export const PlatformRouteSchema = Type.Object({
  provider: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$', description: 'e.g. bedrock, openai, anthropic; the decision names it' }),
  name: Type.String({ pattern: '^[a-z][a-z0-9_-]{0,62}$', default: 'platform' }),
  region: Type.Union([Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-\\d{1,2}$' }), Type.Null()], { default: null }),
}, { additionalProperties: false });

export const PlanSchema = Type.Object({
  name: Type.Optional(Type.String()),
  default: Type.Optional(Type.Boolean()),
  enterprise: Type.Boolean({ default: false }),
  limits: Type.Record(Name, Type.Union([Type.Integer({ minimum: 0 }), Type.Null()]), { default: {} }),
  concurrentRuns: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { default: null }),
  creditsPerPeriod: Type.Integer({ minimum: 0, default: 0 }),
  modules: Type.Array(Name, { default: [] }),
  features: Type.Array(Name, { default: [] }),
  models: Type.Array(Type.String({ minLength: 1 }), { default: ['*'] }),
  rateLimit: Type.Optional(Type.Object({
    limit: Type.Integer({ minimum: 1 }),
    windowSeconds: Type.Integer({ minimum: 1, maximum: 86400, description: 'at most a day, as a rate-limit scope\'s and an API key\'s window' }),
  }, { additionalProperties: false })),
  price: Type.Optional(PriceSchema),
  byoProvider: Type.Boolean({ default: false, description: 'tenants on the plan may route calls to their own provider account (PUT /v1/tenants/{tenantId}/routes/{name})' }),
  platformRoute: Type.Optional(PlatformRouteSchema),
}, { additionalProperties: false });

export const IdentityProviderSchema = Type.Object({
  name: Name,
  issuer: Type.String({ minLength: 1 }),
  audience: Type.String({ minLength: 1 }),
  jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
  jwksTimeoutMs: Type.Integer({
    minimum: 100, maximum: 60_000, default: 5000,
    description: 'how long fetching jwksUrl may take before the call answers 503 IDENTITY_PROVIDER_UNAVAILABLE',
  }),
  secret: Type.Optional(Type.String({ minLength: 32, description: 'HS256 shared secret (e.g. Supabase)' })),
  algorithms: Type.Optional(Type.Array(Type.String({ pattern: '^(RS|ES|PS|HS)(256|384|512)$|^EdDSA$' }), { minItems: 1 })),
  claims: Type.Object({
    subject: Type.String({ default: 'sub' }),
    email: Type.String({ default: 'email' }),
    name: Type.Optional(Type.String()),
  }, { additionalProperties: false, default: {} }),
  autoProvision: Type.Boolean({ default: true, description: 'create the user and a personal tenant on first sign-in' }),
}, { additionalProperties: false });

export const RateScopeSchema = Type.Object({
  limit: Type.Integer({ minimum: 1 }),
  windowSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
  failMode: Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open', description: 'when the shared store (Redis) is unreachable' }),
}, { additionalProperties: false });

export const ConfigFileSchema = Type.Object({
  version: Type.Literal(1),
  issuer: Type.String({ minLength: 1, default: 'tollgate' }),
  audience: Type.String({ minLength: 1, default: 'tollgate' }),
  auth: Type.Object({
    accessTokenTtlSeconds: Type.Integer({ minimum: 30, maximum: 86400, default: 900 }),
    refreshTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: TEN_YEARS_SECONDS, default: 2592000, description: 'how long a refresh token lasts; at most 10 years (315360000)' }),
    signingKeyRotationDays: Type.Integer({ minimum: 1, maximum: TEN_YEARS_DAYS, default: 30, description: 'a signing key is replaced after this many days; at most 10 years (3650)' }),
    signingKeyGraceSeconds: Type.Integer({ minimum: 0, maximum: TEN_YEARS_SECONDS, default: 86400, description: 'a replaced signing key still verifies tokens this long; at most 10 years (315360000)' }),
    passwordResetTtlSeconds: Type.Integer({ minimum: 60, maximum: TEN_YEARS_SECONDS, default: 3600, description: 'how long a password-reset token lasts; at most 10 years (315360000)' }),
    invitationTtlSeconds: Type.Integer({ minimum: 60, maximum: TEN_YEARS_SECONDS, default: 604800, description: 'how long an invitation can be accepted; at most 10 years (315360000)' }),
    passwordMinLength: Type.Integer({ minimum: 8, maximum: PASSWORD_MAX_LENGTH, default: 10, description: `the shortest password signup, a reset and the bootstrap operator take; at most ${PASSWORD_MAX_LENGTH}, the longest the routes take` }),
    scryptCost: Type.Integer({ minimum: 10, maximum: 20, default: 15 }),
    identityProviders: Type.Array(IdentityProviderSchema, { default: [] }),
  }, { additionalProperties: false, default: {} }),
  rateLimits: Type.Object({
    scopes: Type.Object({
      api: RateScopeSchema,
      auth: RateScopeSchema,
      // Optional (added after the first release): a config file without it keeps working.
      credentials: Type.Object(RateScopeSchema.properties, { additionalProperties: false, default: { limit: 600, windowSeconds: 60, failMode: 'open' } }),
      authorize: RateScopeSchema,
    }, { additionalProperties: false, description: 'api: on authenticated routes (not the decision, settle or release), per tenant for its API keys, else per user or service key; auth: per client IP on sign-in routes; credentials: per client IP, credentials found bad (API keys no tenant has, tokens that fail their check); authorize: per tenant on the decision, unless the plan sets its own (settling and releasing reservations draw from a second tenant bucket of the same size)' }),
    bypassPrincipals: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'principal ids (user, key or service-key ids) exempt from rate limits; being authenticated exempts nobody' }),
  }, { additionalProperties: false }),
  billing: Type.Object({
    pastDueGraceSeconds: Type.Integer({ minimum: 0, maximum: TEN_YEARS_SECONDS, default: 604800, description: 'how long a past_due subscription keeps working before requests get PAYMENT_REQUIRED (and the sweeper suspends it); at most 10 years (315360000)' }),
    stripe: Type.Object({
      prices: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_]{1,255}$' }), Name, { default: {}, description: 'Stripe price id → plan' }),
    }, { additionalProperties: false, default: {} }),
    paypal: Type.Object({
      plans: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,255}$' }), Name, { default: {}, description: 'PayPal billing plan id → plan' }),
      certificateOrigin: Type.Optional(Type.String({
        pattern: '^https?://[^/?#]+$',
        description: 'fetch the signing certificates from this origin instead of PayPal\'s (tests, an egress proxy). The PAYPAL-CERT-URL of an event must still be https on a PayPal host',
      })),
    }, { additionalProperties: false, default: {} }),
  }, { additionalProperties: false, default: {} }),
  mail: Type.Object({
    smtpUrl: Type.Optional(Type.String({
      pattern: '^smtps?://',
      description: 'smtp://user:password@host:587 (STARTTLS when offered) or smtps://…:465, with a host and a port from 1 to 65535 (checked at load); TOLLGATE_SMTP_URL wins. Without one no mail is sent, and the log says so (never what the mail held)',
    })),
    from: Type.String({ minLength: 3, default: 'Tollgate <tollgate@localhost>', description: 'the From of every mail; TOLLGATE_MAIL_FROM wins' }),
    passwordResetUrl: Type.Optional(Type.String({
      pattern: '\\{token\\}', description: 'the link of the password-reset mail, {token} replaced by the token (your app\'s reset page: an http(s) URL once filled in); without it the mail gives the token and the API call that spends it',
    })),
    invitationUrl: Type.Optional(Type.String({
      pattern: '\\{token\\}', description: 'the accept link of the invitation mail, {token} replaced by the token (your app\'s page: an http(s) URL once filled in); without it the mail gives the API call that accepts (POST /v1/invitations/{token}/accept on TOLLGATE_PUBLIC_URL)',
    })),
  }, { additionalProperties: false, default: {} }),
  metering: Type.Object({
    reservationTtlSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 600, description: 'how long an unsettled reservation holds credits' }),
    sweepIntervalSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 30, description: 'how often the server expires reservations and rolls periods' }),
    groupCommit: Type.Boolean({ default: true, description: 'decide concurrent authorize calls in batches: one statement and one commit per batch (false: one transaction per call)' }),
  }, { additionalProperties: false, default: {} }),
  usage: Type.Object({
    exportPageSize: Type.Integer({ minimum: 10, maximum: 10_000, default: 1000, description: 'usage records per database page of an export (GET …/usage/export): about what one export holds in memory' }),
    maxRangeDays: Type.Integer({ minimum: 1, maximum: 3660, default: 366, description: 'the longest from..to (UTC days, both included) a usage summary or export may span' }),
  }, { additionalProperties: false, default: {} }),
  webhooks: Type.Object({
    allowPrivateTargets: Type.Boolean({ default: false, description: 'let webhook URLs reach private, loopback, link-local and unique-local addresses (TOLLGATE_WEBHOOKS_ALLOW_PRIVATE_TARGETS=true wins); off, only allowedTargets are let through' }),
    allowedTargets: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
      default: [], description: 'hosts (exact names) and addresses or CIDR blocks (10.0.0.0/8, fd00::/8, 127.0.0.1) a webhook URL may reach although they are private',
    }),
    dispatchIntervalMs: Type.Integer({ minimum: 50, maximum: 60000, default: 1000, description: 'how often each process fans out new events and sends the deliveries that are due' }),
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 60, default: 10, description: 'an attempt that has no answer by then fails (and is retried)' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 16, description: 'deliveries in flight at once, per process' }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 15, description: 'attempts per delivery before it is marked failed (a manual retry starts it again)' }),
    retryBaseSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 30, description: 'the first retry\'s delay; each next one doubles, with jitter' }),
    retryMaxSeconds: Type.Integer({ minimum: 1, maximum: 604800, default: 28800, description: 'the longest delay between two attempts' }),
    disableAfterSeconds: Type.Integer({ minimum: 60, maximum: TEN_YEARS_SECONDS, default: 259200, description: 'an endpoint failing for this long (and at least disableAfterFailures attempts in a row) is disabled and its owner told; at most 10 years (315360000)' }),
    disableAfterFailures: Type.Integer({ minimum: 1, default: 10, description: 'failed attempts in a row an endpoint needs before it can be disabled' }),
    maxEndpointsPerTenant: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'webhook endpoints a tenant may have (enabled or disabled; each multiplies every event into a delivery); more is 409 WEBHOOK_LIMIT_REACHED. Operators\' endpoints are not counted' }),
    secretGraceSeconds: Type.Integer({ minimum: 0, maximum: 2_592_000, default: 86400, description: 'after POST …/webhooks/{id}/rotate-secret, deliveries are signed with the old secret too for this long (webhook-signature carries both), so receivers can move to the new one; 0: only the new one at once; at most 30 days' }),
    creditsLowThreshold: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { default: null, description: 'credits.low is sent when a tenant\'s available credits (balance - reserved) fall below this (once per crossing, re-armed when credits are added; null: never)' }),
    retentionDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30, description: 'events and their finished deliveries older than this are deleted' }),
  }, { additionalProperties: false, default: {} }),
  http: Type.Object({
    requestTimeoutSeconds: Type.Integer({
      minimum: 1, maximum: 3600, default: 60,
      description: 'how long a client may take to send a whole request, headers and body (60 s carries the 64 KiB an API body may hold at 1 KiB/s, a payment webhook\'s 1 MiB at 17 KiB/s); one not in by then is answered 408 REQUEST_TIMEOUT within a quarter of it more (5 s at most) and its connection closed',
    }),
  }, { additionalProperties: false, default: {} }),
  routing: Type.Object({
    platformRoute: Type.Object(PlatformRouteSchema.properties, {
      additionalProperties: false, default: { provider: 'default', name: 'platform', region: null },
      description: 'the route of a call no route of the tenant takes, unless its plan names its own (plans.*.platformRoute)',
    }),
    sts: Type.Object({
      durationSeconds: Type.Integer({ minimum: 900, maximum: 43_200, default: 3600, description: 'DurationSeconds of AssumeRole (the role\'s maximum session duration must allow it)' }),
      refreshBeforeSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 300, description: 'cached credentials are handed out until this long before they expire, then fetched again' }),
      sessionNamePrefix: Type.String({ pattern: '^[\\w+=,.@-]{1,24}$', default: 'tollgate', description: 'RoleSessionName is "<prefix>-<tenantId>" (in the tenant\'s CloudTrail)' }),
      endpoint: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'STS endpoint instead of the SDK\'s (a VPC endpoint, tests); AWS_ENDPOINT_URL_STS works too' })),
      timeoutMs: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000, description: 'how long an AssumeRole call may take before it fails 502 PROVIDER_CREDENTIALS_FAILED' }),
    }, { additionalProperties: false, default: {} }),
    maxRoutesPerTenant: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'provider routes a tenant may have (enabled or disabled; each decision of the tenant reads them all); a new one past it is 409 ROUTE_LIMIT_REACHED, replacing one is not refused' }),
  }, { additionalProperties: false, default: {} }),
  modules: Type.Array(Name, { minItems: 1 }),
  meters: Type.Record(Name, MeterSchema),
  plans: Type.Record(Name, PlanSchema),
  operations: Type.Record(Name, OperationSchema),
}, { additionalProperties: false, $id: 'https://tollgate.dev/schemas/config.json', title: 'Tollgate configuration' });

export type ConfigFile = Static<typeof ConfigFileSchema>;
export type PlanConfig = Static<typeof PlanSchema>;
export type OperationConfig = Static<typeof OperationSchema>;
export type PlatformRouteConfig = Static<typeof PlatformRouteSchema>;
export type RoutingConfig = ConfigFile['routing'];
export type RateScopeConfig = Static<typeof RateScopeSchema>;
export type IdentityProviderConfig = Static<typeof IdentityProviderSchema>;

/**
 * The schema as a file may be written: a key with a default is not required, since the
 * loader fills it in before it validates (config.ts). An editor checking a file against
 * ConfigFileSchema itself would flag every defaulted key a file leaves out, such as a
 * setting added after the file was written.
 */
export function publishedConfigSchema(): unknown {
  return JSON.parse(JSON.stringify(ConfigFileSchema), (_key, value: unknown) => {
    if (!isObjectSchema(value)) return value;
    // In place (the object was just parsed), so the file keeps its order.
    const required = value.required.filter((name) => value.properties[name]?.default === undefined);
    if (required.length > 0) value.required = required;
    else delete (value as { required?: string[] }).required;
    return value;
  });
}

function isObjectSchema(value: unknown): value is { properties: Record<string, { default?: unknown }>; required: string[] } {
  return typeof value === 'object' && value !== null && 'properties' in value && Array.isArray((value as { required?: unknown }).required);
}
