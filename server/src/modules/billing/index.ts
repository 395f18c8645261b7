export { BillingService, addMonthUtc, addMonthsUtc, calendarMonthUtc, endsItsOwnPeriod, keptByProvider, paidByTollgate, paidPeriodEnd, renewsItself, type Period } from './service.js';
export { SubscriptionLifecycle, TRANSITIONS, transitionAllowed, type BillingEvent, type BillingEventHook, type BillingEventType, type PlanChangedHook, type LifecycleEvent, type SubscriptionPatch, type Transition, type Transitioned } from './lifecycle.js';
export { SubscriptionActions, type PaidTime, type TrialRequest } from './actions.js';
export { paymentRequired, type SubscriptionStanding } from './standing.js';
export { findByProvider, findSubscription, lockSubscription, type SubscriptionRow } from './repo.js';
export { toSubscription, PaymentMethodSchema, SubscriptionSchema, SubscriptionStatusSchema, type Subscription } from './view.js';
export { billingRoutes } from './routes.js';
export { billingErrors } from './errors.js';
export { PAYMENT_METHODS, SUBSCRIPTION_STATUSES, type PaymentMethod, type SubscriptionStatus } from './tables.js';
