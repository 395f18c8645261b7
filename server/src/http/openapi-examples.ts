/**
 * Examples of the main calls for the OpenAPI document (and docs/api.md, generated from
 * it). test/openapi.test.ts validates each against its route's schemas, so they cannot
 * drift from what the server accepts and answers.
 */
export interface OperationExample {
  /** Request bodies; several when the body has several shapes. */
  requests?: unknown[];
  /** One answer per status. */
  responses?: Record<string, unknown>;
  responseDescriptions?: Record<string, string>;
}

const tenant = 'tnt_01JDQ3W2Y8K5V6N7P8R9S0T1U2';
const user = 'usr_01JDQ3W2Y8F4C5D6E7G8H9J0K1';
const reservation = 'res_01JDQ3X0A1B2C3D4E5F6G7H8J9';
const at = '2026-05-04T10:00:00.000Z';
const expires = '2026-05-04T10:15:00.000Z';

const settled = (status: 'settled' | 'released', charged: number) => ({
  reservation: {
    id: reservation, status, credits: 12, charged, refunded: 0, operation: 'content_generation', model: null,
    expiresAt: expires, createdAt: at, resolvedAt: '2026-05-04T10:01:30.000Z',
  },
  credits: { balance: 940 - charged, reserved: 0, available: 940 - charged },
  replayed: false,
});

const tokens = {
  accessToken: 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImtpZF8wMUpEUTNXMlk4In0.eyJzdWIiOiJ1c3JfMDFKRFEzVzJZOEY0QzVENkU3RzhIOUowSzEifQ.c2lnbmF0dXJl',
  refreshToken: 'tgr_4mS8pQ2vX9kL1nB7cR5tY3wZ6hJ0dF8gA2sE4uI7oP1qW9eR',
  tokenType: 'Bearer', expiresIn: 900,
};

export const OPERATION_EXAMPLES: Readonly<Record<string, OperationExample>> = {
  'POST /v1/authorize': {
    requests: [{ operation: 'content_generation', module: 'writer', quantity: { words: 1200 }, idempotencyKey: 'run-8f2c' }],
    responseDescriptions: {
      200: 'The decision. allowed: true reserves the cost (close it with settle or release); a denial is allowed: false with its code and consumes nothing. The same idempotencyKey from the same principal answers the first decision again (replayed: true); from another principal of the tenant it is 409 IDEMPOTENCY_CONFLICT.',
    },
    responses: {
      200: {
        allowed: true, code: 'OK', decisionId: 'dec_01JDQ3X0A1Q2W3E4R5T6Y7U8I9',
        tenant: { id: tenant, plan: 'pro', enterprise: false },
        principal: { type: 'api_key', id: 'key_01JDQ3W9Z1X2C3V4B5N6M7L8K9', userId: null, role: null },
        operation: { name: 'content_generation', module: 'writer', credits: 12 },
        limits: [{ meter: 'runs', used: 12, limit: 100, remaining: 88, resetsAt: '2026-06-01T00:00:00.000Z' }],
        credits: { balance: 940, reserved: 12, available: 928 },
        reservation: { id: reservation, credits: 12, expiresAt: expires },
        bypass: null,
        route: { provider: 'bedrock', name: 'aws-main', region: 'eu-central-1', billing: 'tenant' },
      },
    },
  },
  'GET /v1/reservations/:id': {
    responseDescriptions: { 200: 'The reservation as a settle would find it now: held (a settle can still charge it), else settled with what was charged, released, or expired.' },
    responses: { 200: settled('settled', 9).reservation },
  },
  'POST /v1/reservations/:id/settle': {
    requests: [{ quantity: { words: 900 } }, { credits: 9 }],
    responseDescriptions: { 200: 'The reservation settled: charged what the actual quantity costs (at most what was held), the rest released. Settling again answers the same with replayed: true.' },
    responses: { 200: settled('settled', 9) },
  },
  'POST /v1/reservations/:id/release': {
    responseDescriptions: { 200: 'The reservation released: nothing charged, the hold returned. Releasing again answers the same with replayed: true.' },
    responses: { 200: settled('released', 0) },
  },
  'POST /v1/signup': {
    requests: [{ email: 'ada@example.com', password: 'correct-horse-battery', name: 'Ada' }],
    responseDescriptions: { 201: 'The user, their personal tenant (they own it, on the default plan) and a first pair of tokens' },
    responses: {
      201: {
        user: { id: user, email: 'ada@example.com', name: 'Ada', status: 'active', isOperator: false, personalTenantId: tenant, createdAt: at },
        tenant: {
          id: tenant, name: 'Ada', kind: 'personal', status: 'active', plan: 'free', enterprise: false, createdAt: at,
          subscription: { id: 'sub_01JDQ3W2Y8M1N2B3V4C5X6Z7A8', plan: 'free', status: 'active', currentPeriodStart: at, currentPeriodEnd: '2026-06-04T10:00:00.000Z', trialEndsAt: null, pastDueSince: null, paymentMethod: null, externalPaymentId: null, cancelAtPeriodEnd: false, canceledAt: null },
        },
        ...tokens,
      },
    },
  },
  'POST /v1/token': {
    requests: [
      { grantType: 'password', email: 'ada@example.com', password: 'correct-horse-battery' },
      { grantType: 'refresh_token', refreshToken: 'tgr_7hY2kL9mN4bV1cX6zQ3wE8rT5yU0iO2pA4sD6fG8hJ1kL3' },
    ],
    responseDescriptions: { 200: 'A new access token (expiresIn seconds) and a new refresh token; the refresh token presented is spent' },
    responses: { 200: tokens },
  },
};
