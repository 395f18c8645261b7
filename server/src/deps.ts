import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ConfigError, type Config } from './config.js';
import { inSystem, inTenant } from './db/scope.js';
import { openDatabase, type Database, type Tx } from './db/client.js';
import { refusalReason } from './db/errors.js';
import type { CredentialResolver } from './http/auth-hook.js';
import { createMetrics, trackRefusedRows, type Metrics } from './http/metrics.js';
import { unknownCredentialGuard } from './http/rate-limit-hook.js';
import { ChangeFeed, type Change } from './lib/changes.js';
import { systemClock, type Clock } from './lib/clock.js';
import { createLogger } from './lib/logger.js';
import { BackgroundMailer, SmtpMailer, UnsentMailer, describeMailer, type Mailer } from './lib/mailer.js';
import { Sealer } from './lib/secrets.js';
import { ApiKeyService, KeyResolver, LastUsedBuffer, ServiceKeyService } from './modules/apikeys/index.js';
import { AuditService, PLATFORM_TENANT_ID } from './modules/audit/index.js';
import { AccessTokens, AuthService, ExternalIdentityVerifier, SigningKeyRing, credentialResolver } from './modules/auth/index.js';
import { BillingService, SubscriptionActions, SubscriptionLifecycle, type BillingEventHook, type PlanChangedHook } from './modules/billing/index.js';
import { BankTransfers, PaidPeriods, PaymentsService, PayPalWebhooks, ProviderEvents, Refunds, StripeWebhooks } from './modules/payments/index.js';
import { CreditsService, ReservationsService } from './modules/credits/index.js';
import { EntitlementsService } from './modules/entitlements/index.js';
import { LimitsService } from './modules/limits/index.js';
import { PlansService } from './modules/plans/index.js';
import { RateLimitService, trackRateLimits } from './modules/ratelimit/index.js';
import { InvitationService, TenancyAdminService, TenancyService, AccessCheck } from './modules/tenancy/index.js';
import { Metering, PeriodStanding } from './modules/metering/index.js';
import { DECISION_STATEMENTS_IN_FLIGHT, DecisionLog, DecisionService, TenantSnapshots, createGateMetrics } from './modules/gate/index.js';
import { UsageService } from './modules/usage/index.js';
import { EventOutbox, TargetPolicy, WebhookDispatcher, WebhookService, type EndpointRow } from './modules/webhooks/index.js';
import { ProviderCredentials, RoutingService } from './modules/routing/index.js';
import { Periodic } from './lib/periodic.js';

/** Backstop only: every change is invalidated at once; this bounds a missed notification. */
export const CACHE_TTL_MS = 30_000;
const LAST_USED_FLUSH_MS = 5_000;
const DECISION_LOG_FLUSH_MS = 1_000;
/** Other processes' rotations are picked up (and due rotations made) this often. */
const KEY_RING_REFRESH_MS = 60_000;

/** Everything the app is made of, wired once. Tests build it with their own clock, mailer and database. */
export interface Deps {
  config: Config;
  clock: Clock;
  logger: Logger;
  database: Database;
  mailer: Mailer;
  metrics: Metrics;
  audit: AuditService;
  plans: PlansService;
  billing: BillingService;
  /** The one function every subscription change goes through (the state machine). */
  lifecycle: SubscriptionLifecycle;
  /** Owners' and operators' subscription actions (cancel, resume, trials) and the time-driven transitions. */
  subscriptions: SubscriptionActions;
  payments: PaymentsService;
  transfers: BankTransfers;
  stripeWebhooks: StripeWebhooks;
  paypalWebhooks: PayPalWebhooks;
  tenancy: TenancyService;
  invitations: InvitationService;
  tenancyAdmin: TenancyAdminService;
  entitlements: EntitlementsService;
  limits: LimitsService;
  credits: CreditsService;
  reservations: ReservationsService;
  /** A tenant's current period and its plan grant, for metering and the decision. */
  periods: PeriodStanding;
  /** The metering core the routes (and an embedding app) call. */
  metering: Metering;
  /** Runs' usage records, daily summaries and exports. */
  usage: UsageService;
  keys: SigningKeyRing;
  auth: AuthService;
  rateLimits: RateLimitService;
  /** Invalidations of cached credential and tenant state, across processes. */
  changes: ChangeFeed;
  apiKeys: ApiKeyService;
  serviceKeys: ServiceKeyService;
  /** last_used_at of keys, written in batches; flush() forces a write. */
  keyUsage: LastUsedBuffer;
  /** The decision: POST /v1/authorize and createTollgate().authorize(). */
  gate: DecisionService;
  /** Every decision, written in batches; flush() forces a write. */
  decisionLog: DecisionLog;
  /** Tenants' own provider routes, and the route selection of the decision. */
  routing: RoutingService;
  /** Short-lived credentials for a decision's route (STS AssumeRole, provider keys). */
  providerCredentials: ProviderCredentials;
  /** Seals again every secret kept under a previous master secret (`tollgate secrets reseal`). */
  resealSecrets: () => Promise<{ signingKeys: number; routes: number; webhooks: number }>;
  /** The one path every credential type takes: bearer (+ on-behalf-of) → Principal. */
  resolveCredential: CredentialResolver;
  /** The outbox: events written in the transaction of the change they announce. */
  events: EventOutbox;
  /** Webhook endpoints and their delivery logs. */
  webhooks: WebhookService;
  /** Fans the outbox out and delivers (startWebhookDispatcher runs it; tests call runOnce()). */
  webhookDispatcher: WebhookDispatcher;
  close: () => Promise<void>;
}

export interface DepsOverrides {
  clock?: Clock;
  mailer?: Mailer;
  logger?: Logger;
  database?: Database;
  /** Namespace for rate-limit buckets, so suites sharing one Redis do not share buckets. */
  rateLimitPrefix?: string;
  /** Told each step of opening the database (the CLI prints them). */
  onProgress?: (line: string) => void;
}

/** The one composition root: the only place that knows how services fit together. */
export async function createDeps(config: Config, overrides: DepsOverrides = {}): Promise<Deps> {
  const base = await foundation(config, overrides);
  // A plan's change (in billing) announces the thresholds its new limits put the counts at (metering).
  const b = await billingParts(base, (tx, tenantId) => m.metering.limitsChanged(tx, tenantId));
  const m = meteringParts(base.database.db, base.clock, base.audit, b.billing, base.plans, b.credits, b.subscriptions, config, base.publish);
  const id = await identityParts(base, b.billing, m);
  const g = gateParts(base, id, m);
  const w = webhookParts(base, id);
  const { logger, changes, database } = base;
  changes.subscribe((change) => g.decisions.forget(change));
  await changes.start();
  g.decisionLog.start(DECISION_LOG_FLUSH_MS);
  id.keyUsage.start(LAST_USED_FLUSH_MS);

  const deps: Deps = {
    config, clock: base.clock, logger, database, mailer: base.mailer, metrics: g.metrics, audit: base.audit, plans: base.plans,
    billing: b.billing, lifecycle: b.lifecycle, subscriptions: b.subscriptions, payments: b.payments, transfers: b.transfers,
    stripeWebhooks: b.stripeWebhooks, paypalWebhooks: b.paypalWebhooks,
    tenancy: id.tenancy, invitations: id.invitations, tenancyAdmin: id.tenancyAdmin,
    entitlements: m.entitlements, limits: m.limits, credits: m.credits, reservations: m.reservations, periods: m.periods, metering: m.metering, usage: m.usage,
    keys: id.keys, auth: id.auth, rateLimits: id.rateLimits, changes, apiKeys: id.apiKeys, serviceKeys: id.serviceKeys, keyUsage: id.keyUsage,
    gate: g.decisions, decisionLog: g.decisionLog, resolveCredential: id.resolveCredential,
    events: base.events, webhooks: w.webhooks, webhookDispatcher: w.webhookDispatcher,
    routing: id.routing, providerCredentials: id.providerCredentials, resealSecrets: resealer(base.audit, id, w.webhooks),
    async close() {
      await id.keys.stop();
      id.providerCredentials.close();
      await g.decisionLog.stop().catch((error: unknown) => logger.error({ err: error }, 'writing the decision log failed'));
      await id.keyUsage.stop().catch((error: unknown) => logger.error({ err: error }, 'writing key last-used times failed'));
      await changes.stop();
      await id.rateLimits.close();
      // Mails on their way are let finish (each bounded by the mail server's timeouts).
      if (!overrides.mailer) await base.mailer.close?.();
      // Whoever opened the database closes it: a database handed in (tests) stays open.
      if (!overrides.database) await database.close();
    },
  };
  if (config.bootstrapOperator) {
    const { outcome } = await id.auth.ensureOperator(config.bootstrapOperator.email, config.bootstrapOperator.password, 'TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL')
      .catch(async (error: unknown) => { await deps.close(); throw error; });
    if (outcome === 'not_their_password') {
      await deps.close();
      throw new ConfigError('TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL names a user that exists, whose password is not TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD: '
        + 'it is not made an operator (anyone can sign up with any email). Give that user\'s password, or another email.');
    }
    if (outcome !== 'already_operator') logger.info({ email: config.bootstrapOperator.email, outcome }, outcome === 'created' ? 'bootstrap operator created' : 'bootstrap operator: existing user made an operator');
  }
  return deps;
}

type Foundation = Awaited<ReturnType<typeof foundation>>;

/** What every part uses: the logger, the clock, the database, mail, the audit log, the plans and the change feed. */
async function foundation(config: Config, overrides: DepsOverrides) {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const database = overrides.database ?? await openDatabase({
    url: config.databaseUrl, dataDir: config.dataDir, appRole: config.databaseAppRole, poolSize: config.databasePoolSize,
    // Group commit's statements keep connections of their own (db/client.ts says why).
    statementConnections: config.file.metering.groupCommit ? DECISION_STATEMENTS_IN_FLIGHT : undefined,
    connectTimeoutSeconds: config.databaseConnectTimeoutSeconds, onProgress: overrides.onProgress,
  });
  const mailer = overrides.mailer ?? configuredMailer(config, logger);
  if (!overrides.mailer) overrides.onProgress?.(`mail: ${describeMailer(config.smtpUrl)}`);
  const publicUrl = config.publicUrl ?? `http://${config.host}:${config.port}`;
  const audit = new AuditService(clock);
  const plans = new PlansService(config.file, (plan) => logger.warn({ plan },
    'a tenant is on a plan this process\'s config lacks: it is served the default plan until every process runs a config that has it'));
  const changes = new ChangeFeed(database,
    (payload) => logger.warn({ payload }, 'ignored a malformed change notification'),
    (error) => logger.warn({ err: error }, 'could not acknowledge another process\'s change; it stops waiting for this one shortly'));
  const publish = (change: Change) => changes.publish(change).catch((error: unknown) => {
    logger.error({ err: error, change }, 'could not announce a change to other processes; they catch up within the cache TTL');
  });
  const events = new EventOutbox(clock, config.file.webhooks.creditsLowThreshold);
  return { config, overrides, logger, clock, database, mailer, publicUrl, audit, plans, changes, publish, events };
}

/** Subscriptions and payments: the lifecycle every change goes through, and the providers' webhooks. */
async function billingParts({ config, overrides, logger, clock, database, audit, plans, changes, events }: Foundation, planChanged: PlanChangedHook) {
  const { db } = database;
  const file = config.file;
  // subscription.updated, payment.succeeded, payment.failed and tenant.suspended: into the
  // outbox inside the transaction of each change.
  const billingEvents: BillingEventHook = async (tx, event) => { await events.publish(tx, event); };
  const lifecycle = new SubscriptionLifecycle(clock, audit, changes, billingEvents, planChanged);
  const billing = new BillingService(clock, lifecycle);
  // A tenant on a plan the config no longer has would be served the default plan's
  // limits without a word (an enterprise customer cut to free): refuse to start instead.
  const orphaned = await inSystem(db, (tx) => billing.unknownPlans(tx, plans.list().map((plan) => plan.id)));
  if (orphaned.length > 0) {
    if (!overrides.database) await database.close();
    const list = orphaned.map((o) => `"${o.plan}" (${o.tenants} ${o.tenants === 1 ? 'tenant' : 'tenants'})`).join(', ');
    throw new ConfigError(`${config.configPath}: plans in use are missing from the config: ${list}. ` +
      'Put them back; to retire a plan, first move its tenants (PATCH /v1/admin/tenants/{tenantId} {"plan": …}).');
  }
  const credits = new CreditsService(clock, audit, (tx, tenantId) => events.creditsChanged(tx, tenantId));
  const payments = new PaymentsService({ db, clock, plans, audit, credits, lifecycle, changes, onEvent: billingEvents });
  const transfers = new BankTransfers(payments, lifecycle);
  const paidPeriods = new PaidPeriods(payments, lifecycle);
  const subscriptions = new SubscriptionActions(db, clock, plans, lifecycle, changes, file.billing.pastDueGraceSeconds, paidPeriods);
  const providerEvents = new ProviderEvents(db, payments, lifecycle, file.billing.pastDueGraceSeconds);
  const refunds = new Refunds({ db, events: providerEvents, payments, credits, audit, lifecycle, paidPeriods });
  const stripeWebhooks = new StripeWebhooks(config.stripeWebhookSecrets, file.billing.stripe.prices, clock, providerEvents, refunds);
  const paypalWebhooks = new PayPalWebhooks({
    webhookId: config.paypalWebhookId, plans: file.billing.paypal.plans, certificateOrigin: file.billing.paypal.certificateOrigin,
  }, clock, providerEvents, refunds);
  if (config.stripeWebhookSecrets.length === 0) logger.info('STRIPE_WEBHOOK_SECRET is not set: POST /v1/webhooks/stripe refuses every event');
  if (!config.paypalWebhookId) logger.info('PAYPAL_WEBHOOK_ID is not set: POST /v1/webhooks/paypal refuses every event');
  return { billing, lifecycle, credits, payments, transfers, subscriptions, stripeWebhooks, paypalWebhooks };
}

type Identity = Awaited<ReturnType<typeof identityParts>>;

/** Tenancy, credentials and sign-in: who a caller is and what they may reach. */
async function identityParts(base: Foundation, billing: BillingService, m: ReturnType<typeof meteringParts>) {
  const { config, overrides, logger, clock, database, mailer, publicUrl, audit, plans, changes, publish, events } = base;
  const { db } = database;
  const file = config.file;
  const keyUsage = new LastUsedBuffer(db, (error) => logger.error({ err: error }, 'writing key last-used times failed'),
    (use, error) => logger.error({ table: use.table, keyId: use.id, ...refusalReason(error) }, 'the database refused a key\'s last-used time: dropped it, wrote the others'));
  const rateLimits = new RateLimitService({
    redisUrl: config.redisUrl, prefix: overrides.rateLimitPrefix ?? 'tollgate',
    onStoreChange: (up) => {
      if (up) logger.info('the rate-limit store (Redis) is reachable again');
      else logger.warn('lost the rate-limit store (Redis): until it is back, each scope follows its failMode (open: let through, closed: refused)');
    },
  });
  await rateLimits.connected();
  // Keys no row has and tokens that fail their signature check draw on a per-address
  // bucket (else a look-up or a signature check each, without bound).
  const credentialGuard = unknownCredentialGuard(rateLimits, file.rateLimits.scopes.credentials, new Set(file.rateLimits.bypassPrincipals));
  const keyResolver = new KeyResolver(db, clock, keyUsage, CACHE_TTL_MS, credentialGuard);
  const accessCheck = new AccessCheck(db, clock, billing, { cacheTtlMs: CACHE_TTL_MS, pastDueGraceSeconds: file.billing.pastDueGraceSeconds });
  const tenancy = new TenancyService(db, clock, audit, billing, plans, accessCheck, changes, {
    keyStillValid: (tx, principal) => keyResolver.stillValid(tx, principal),
    tenantCreated: (tx, tenantId) => m.metering.tenantCreated(tx, tenantId),
    enterpriseOverride: (tx, tenantId) => m.entitlements.enterpriseOverride(tx, tenantId),
  });
  const invitations = new InvitationService(db, clock, audit, tenancy, {
    ttlSeconds: file.auth.invitationTtlSeconds, mailer, acceptUrl: file.mail.invitationUrl, publicUrl,
  });
  const tenancyAdmin = new TenancyAdminService(db, clock, audit, billing, plans, tenancy, m.entitlements, (kind, id) => publish({ kind, id }),
    (tx, tenantId, data) => events.publish(tx, { tenantId, type: 'tenant.suspended', data }).then(() => undefined),
    (tx, tenantId) => m.metering.limitsChanged(tx, tenantId));
  const apiKeys = new ApiKeyService(db, clock, audit, changes, events);
  const serviceKeys = new ServiceKeyService(db, clock, audit, changes);
  changes.subscribe((change) => accessCheck.forget(change));
  changes.subscribe((change) => keyResolver.forget(change));
  const masterSecret = config.secretKey ?? localSecret(config.dataDir, logger, database.kind);
  const routing = new RoutingService({
    db, clock, audit, plans, billing, changes, sealer: new Sealer('provider-routes', masterSecret, config.secretKeyPrevious),
    platformRoute: file.routing.platformRoute, maxRoutesPerTenant: file.routing.maxRoutesPerTenant,
  });
  const providerCredentials = new ProviderCredentials({
    db, clock, audit, routing, sts: file.routing.sts, limiter: rateLimits,
    findDecision: (decisionId, tenantId) => (tenantId === null
      ? inSystem(db, (tx) => m.reservations.byDecision(tx, decisionId, null))
      : inTenant(db, tenantId, (tx) => m.reservations.byDecision(tx, decisionId, tenantId))),
    checkTenant: async (principal, tenantId) => {
      await (principal.type === 'service' && !principal.onBehalfOf ? tenancy.verifiedStanding(principal, tenantId) : tenancy.verified(principal, tenantId));
    },
  });
  const keys = new SigningKeyRing(db, clock, {
    rotationDays: file.auth.signingKeyRotationDays, graceSeconds: file.auth.signingKeyGraceSeconds,
    sealer: new Sealer('signing-keys', masterSecret, config.secretKeyPrevious),
  });
  await keys.init();
  keys.start(KEY_RING_REFRESH_MS, (error) => logger.error({ err: error }, 'refreshing the signing keys failed'));
  const tokens = new AccessTokens(keys, clock, { issuer: file.issuer, audience: file.audience, ttlSeconds: file.auth.accessTokenTtlSeconds });
  const external = new ExternalIdentityVerifier(file.auth.identityProviders, clock);
  const auth = new AuthService(db, clock, tenancy, tokens, external, mailer, {
    issuer: file.issuer, refreshTokenTtlSeconds: file.auth.refreshTokenTtlSeconds,
    passwordResetTtlSeconds: file.auth.passwordResetTtlSeconds, passwordMinLength: file.auth.passwordMinLength,
    scryptCost: file.auth.scryptCost, publicUrl, passwordResetUrl: file.mail.passwordResetUrl,
  }, credentialGuard);
  const resolveCredential = credentialResolver(keyResolver, auth);
  return {
    keyUsage, rateLimits, keyResolver, tenancy, invitations, tenancyAdmin, apiKeys, serviceKeys, masterSecret, keys, auth, resolveCredential,
    routing, providerCredentials,
  };
}

/** The decision, its log and the metrics that watch them. */
function gateParts({ config, logger, clock, database, plans, events }: Foundation, id: Identity, m: ReturnType<typeof meteringParts>) {
  const { db } = database;
  const file = config.file;
  const metrics = createMetrics();
  const gateMetrics = createGateMetrics(metrics.registry);
  const decisionLog = new DecisionLog(db, (error) => logger.error({ err: error }, 'writing the decision log failed'), {
    clock, onRefused: (row, error) => logger.error({ tenantId: row.tenantId, decisionId: row.id, requestId: row.requestId, ...refusalReason(error) },
      'the database refused a decision-log row: dropped it, wrote the others'),
    // The day counts of allowed and denied decisions go with the rows, in their transaction.
    onWritten: (tx, rows) => m.usage.countDecisions(tx, rows),
  });
  const decisions = new DecisionService({
    database, clock, plans, tenancy: id.tenancy, routing: id.routing,
    snapshots: new TenantSnapshots(db, clock, id.tenancy, m.periods, CACHE_TTL_MS, (tx, tenantId) => id.routing.summaries(tx, tenantId)),
    rateLimits: id.rateLimits, log: decisionLog, authorizeScope: file.rateLimits.scopes.authorize, rateLimitBypass: new Set(file.rateLimits.bypassPrincipals),
    bypassRoles: m.bypassRoles, reservationTtlSeconds: file.metering.reservationTtlSeconds, creditsLowThreshold: events.creditsLowThreshold,
    currentPrincipal: (principal) => id.keyResolver.current(principal),
    groupCommit: file.metering.groupCommit ? {
      // Not a concurrency conflict: a fault in the batch statement; its requests are decided alone.
      onRefused: (error: unknown) => logger.warn({ err: error }, 'a decision batch failed; its requests were decided one by one'),
      onBatch: gateMetrics.observeBatch,
    } : undefined,
  });
  gateMetrics.track(decisions, decisionLog);
  trackRateLimits(metrics.registry, id.rateLimits);
  trackRefusedRows(metrics.registry, { decision_log: decisionLog, key_last_used: id.keyUsage });
  return { metrics, decisionLog, decisions };
}

/** `tollgate secrets reseal`: every kind of stored secret sealed again under the current master secret, each kind audited. */
function resealer(audit: AuditService, id: Identity, webhooks: WebhookService): Deps['resealSecrets'] {
  const audited = (kind: string) => (tx: Tx, count: number) => audit.record(tx, {
    tenantId: PLATFORM_TENANT_ID, actor: { type: 'system', id: null }, action: 'secrets.reseal', target: { type: 'secrets', id: kind }, data: { sealed: count },
  });
  return async () => ({
    signingKeys: await id.keys.reseal(audited('signing-keys')),
    routes: await id.routing.reseal(audited('provider-routes')),
    webhooks: await webhooks.reseal(audited('webhook-secrets')),
  });
}

/** Webhook endpoints, and the dispatcher that fans the outbox out to them. */
function webhookParts({ config, logger, clock, database, audit, mailer }: Foundation, id: Identity) {
  const { db } = database;
  const targets = new TargetPolicy({ allowPrivate: config.webhooksAllowPrivateTargets, allowed: config.file.webhooks.allowedTargets });
  const sealer = new Sealer('webhook-secrets', id.masterSecret, config.secretKeyPrevious);
  const webhooks = new WebhookService(db, clock, audit, targets, sealer, config.file.webhooks);
  const webhookDispatcher = new WebhookDispatcher({
    db, clock, policy: targets, sealer, audit, mailer, options: config.file.webhooks,
    recipients: (endpoint: EndpointRow) => inSystem(db, async (tx) => endpoint.ownerTenantId !== null
      ? id.tenancy.ownerEmails(tx, endpoint.ownerTenantId)
      : [await id.tenancy.userEmail(tx, endpoint.createdBy ?? '')].filter((e): e is string => e !== null)),
    onError: (error) => logger.error({ err: error }, 'a webhook delivery could not be recorded'),
  });
  return { webhooks, webhookDispatcher };
}

/**
 * Plans, limits and credits; a settled, released or expired reservation frees its
 * concurrent-run slot and leaves the run's usage record, in its transaction.
 */
function meteringParts(
  db: Database['db'], clock: Clock, audit: AuditService, billing: BillingService, plans: PlansService, credits: CreditsService,
  subscriptions: SubscriptionActions, config: Config, publish: (change: Change) => Promise<void>,
) {
  const entitlements = new EntitlementsService(db, clock, audit, billing, plans);
  const bypassRoles = Object.fromEntries(Object.entries(plans.meters()).map(([meter, m]) => [meter, m.bypassRoles]));
  const limits = new LimitsService(clock, audit, bypassRoles);
  const usage = new UsageService(db, clock, { exportPageSize: config.file.usage.exportPageSize, maxRangeDays: config.file.usage.maxRangeDays });
  const reservations = new ReservationsService(clock, plans, credits, config.file.metering.reservationTtlSeconds,
    async (tx, tenantId, reservationId, resolution) => {
      await limits.releaseRun(tx, tenantId, reservationId);
      await usage.record(tx, resolution);
    });
  const periods = new PeriodStanding(billing, entitlements, credits);
  const metering = new Metering({ db, clock, plans, billing, entitlements, limits, credits, reservations, periods, publish, subscriptions });
  return { entitlements, limits, credits, reservations, periods, metering, bypassRoles, usage };
}

/** SMTP when configured, sent off the request path; else none, said once now and at every mail not sent. */
function configuredMailer(config: Config, logger: Logger): Mailer {
  if (config.smtpUrl) return new BackgroundMailer(new SmtpMailer(config.smtpUrl, config.mailFrom), logger);
  logger.warn('no SMTP server configured (TOLLGATE_SMTP_URL): password-reset and invitation mails are not sent');
  return new UnsentMailer(logger);
}

/**
 * Without TOLLGATE_SECRET_KEY, a random master secret is kept in the data directory.
 * Fine for one host; several hosts sharing a database must share TOLLGATE_SECRET_KEY.
 */
function localSecret(dataDir: string, logger: Logger, kind: Database['kind']): string {
  const path = join(dataDir, 'secret.key');
  if (!existsSync(path)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600 });
  }
  if (kind === 'postgres') logger.warn('TOLLGATE_SECRET_KEY is not set: using %s; every Tollgate process must share one secret', path);
  return readFileSync(path, 'utf8').trim();
}

/**
 * Expires unsettled reservations and rolls ended periods (with their refill) for idle
 * tenants, on the configured interval. The server and an embedding app each run one;
 * tests call tollgate.sweep() themselves. Stop it (`stop(false)`) before deps.close().
 */
export function startSweeper(deps: Deps): Periodic {
  const sweeper = new Periodic(async () => { await deps.metering.sweep(); }, (error) => deps.logger.error({ err: error }, 'metering sweep failed'));
  sweeper.start(deps.config.file.metering.sweepIntervalSeconds * 1000);
  return sweeper;
}

/**
 * Fans the webhook outbox out and sends what is due, on the configured interval (any
 * number of processes at once); events past the retention are pruned at the first tick,
 * then hourly (WebhookDispatcher.tick). Tests call deps.webhookDispatcher.runOnce() or
 * tick() themselves. Stop it (`stop(false)`) before deps.close().
 */
export function startWebhookDispatcher(deps: Deps): Periodic {
  const dispatcher = new Periodic(() => deps.webhookDispatcher.tick(), (error) => deps.logger.error({ err: error }, 'webhook dispatch failed'));
  dispatcher.start(deps.config.file.webhooks.dispatchIntervalMs);
  return dispatcher;
}
