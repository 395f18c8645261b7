export { CreditsService, canonicalQuantity, decisionHash, periodGrantKey, requestHash, type BalanceChange, type ChangeResult, type CreditBalance, type LedgerEntry } from './service.js';
export { ReservationsService, type DecisionReservation, type Reserved, type ReservationView, type ReserveInput, type ReserveResult, type ResolveResult, type Resolution, type ResolveListener } from './reservations.js';
export { quote, INPUT_TOKENS, OUTPUT_TOKENS, type Billing, type CostQuote, type CostRequest, type Quantity } from './cost.js';
export { creditsErrors } from './errors.js';
export { checkPreviewRequest, checkReserveRequest, checkTtlSeconds, CreditBalanceSchema, IdempotencyKey, LedgerEntrySchema, PreviewBody, QuantitySchema, ReservationSchema, ResolvedSchema, SettleChargeFields } from './views.js';
export { decisionRecords, meterEventId, meterEventRecords, type ReservationRow } from './repo.js';
