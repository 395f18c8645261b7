-- Refunds, reversals and disputes of a provider's payment (modules/payments/refunds.ts).
-- A payment refunded in full, reversed (a chargeback) or whose dispute was lost is
-- `refunded`: its credits are taken back and the period it bought for Tollgate to keep
-- ends. Before, those events were ignored and the customer kept both the money and what
-- it paid for.
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'rejected', 'canceled', 'refunded'));

-- How much of it the provider has given back so far (a partial refund is recorded only),
-- and the state of a dispute opened on it: open, won or lost.
ALTER TABLE payments
  ADD COLUMN refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0),
  ADD COLUMN dispute text CHECK (dispute IN ('open', 'won', 'lost'));

-- Stripe's refunds and disputes name the charge's payment intent, not the invoice Tollgate
-- recorded (API versions from 2025-03 on do not name the invoice at all): the payment
-- keeps the payment intent that paid it, when the invoice said. Not unique: one payment
-- intent may pay several invoices (API 2025-03 on), and an invoice must never be refused
-- for it.
ALTER TABLE payments ADD COLUMN payment_intent text;
CREATE INDEX payments_payment_intent_idx ON payments (method, payment_intent) WHERE payment_intent IS NOT NULL;
