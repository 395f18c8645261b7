export { PaymentsService, type PaymentsParts, type PaymentWrite } from './service.js';
export { BankTransfers, type PaymentOutcome, type TransferConfirmation } from './bank-transfer.js';
export { ProviderEvents, type ProviderPayment, type ProviderState } from './provider-events.js';
export { StripeWebhooks } from './stripe.js';
export { PayPalWebhooks, trustedCertificateUrl, money, type PayPalOptions } from './paypal.js';
export { paymentRoutes } from './routes.js';
export { webhookRoutes } from './webhook-routes.js';
export { paymentsErrors } from './errors.js';
export { PaymentSchema, type PaymentView } from './views.js';
