export { BillingService, addMonthUtc, addMonthsUtc, calendarMonthUtc, type Period, type Subscription } from './service.js';
export type { SubscriptionStatus } from './tables.js';
