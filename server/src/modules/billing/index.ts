export { BillingService, addMonthUtc, type Subscription } from './service.js';
export type { SubscriptionStatus } from './tables.js';
