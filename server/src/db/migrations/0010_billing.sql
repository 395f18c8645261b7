-- Subscriptions that move, and the payments that move them (modules/billing, modules/payments).
--
-- A subscription's status keeps its meaning (tollgate_decide reads it as before): what is
-- new is what moves it. Cancellation at the period's end is a flag beside the status;
-- canceled_from remembers what a cancellation ended, so that resuming restores it and
-- nothing else. A subscription kept by Stripe or PayPal names the provider's object, and
-- provider_updated_at and provider_period_end are the provider's own time and period of the
-- newest state applied: an older event (providers deliver out of order) never reverts a
-- newer one.

ALTER TABLE subscriptions
  ADD COLUMN cancel_at_period_end     boolean NOT NULL DEFAULT false,
  ADD COLUMN canceled_at              timestamptz,
  ADD COLUMN canceled_from            text CHECK (canceled_from IN ('trialing', 'active', 'past_due', 'pending_payment', 'suspended')),
  ADD COLUMN provider_subscription_id text,
  ADD COLUMN provider_customer_id     text,
  ADD COLUMN provider_updated_at      timestamptz,
  ADD COLUMN provider_period_end      timestamptz;

CREATE INDEX subscriptions_provider_subscription_idx ON subscriptions (payment_method, provider_subscription_id) WHERE provider_subscription_id IS NOT NULL;
CREATE INDEX subscriptions_provider_customer_idx ON subscriptions (payment_method, provider_customer_id) WHERE provider_customer_id IS NOT NULL;
-- The sweeper's work lists: trials to end, periods to close, graces to run out.
CREATE INDEX subscriptions_trial_end_idx ON subscriptions (trial_ends_at) WHERE status = 'trialing';
CREATE INDEX subscriptions_period_end_idx ON subscriptions (current_period_end) WHERE status IN ('active', 'trialing');
CREATE INDEX subscriptions_past_due_idx ON subscriptions (past_due_since) WHERE status = 'past_due';

-- A payment: a bank transfer asked for (pending, with the reference to quote) and confirmed
-- or rejected by an operator, or a provider's payment as its webhooks report it. The
-- external id (the bank's transaction reference, Stripe's invoice, PayPal's sale) is
-- unique per method across all tenants: one transfer cannot pay twice.
CREATE TABLE payments (
  tenant_id           text NOT NULL REFERENCES tenants (id),
  id                  text NOT NULL,
  subscription_id     text NOT NULL,
  method              text NOT NULL CHECK (method IN ('stripe', 'paypal', 'bank_transfer')),
  external_payment_id text,
  reference           text,
  amount              bigint NOT NULL CHECK (amount >= 0),
  currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed', 'rejected', 'canceled')),
  plan                text NOT NULL,
  periods             integer NOT NULL DEFAULT 1 CHECK (periods BETWEEN 1 AND 36),
  period_start        timestamptz,
  period_end          timestamptz,
  payer_name          text,
  proof_url           text,
  reason              text,
  -- What an operator's confirmation asked for: the same external id must always carry it.
  request_hash        text,
  -- The subscription as it was before a transfer was asked for: a rejection restores it.
  previous_status     text,
  previous_plan       text,
  decided_by          text,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX payments_external_key ON payments (method, external_payment_id) WHERE external_payment_id IS NOT NULL;
CREATE UNIQUE INDEX payments_reference_key ON payments (reference) WHERE reference IS NOT NULL;
-- At most one transfer awaited per tenant.
CREATE UNIQUE INDEX payments_one_pending_transfer ON payments (tenant_id) WHERE status = 'pending' AND method = 'bank_transfer';
CREATE INDEX payments_tenant_time_idx ON payments (tenant_id, created_at DESC, id DESC);
SELECT tollgate_isolate_by_tenant(ARRAY['payments']);

-- The credit grant of a paid period names its payment.
ALTER TABLE credit_ledger ADD COLUMN payment_id text;

-- Provider events processed, by the provider's own event id: a redelivery finds its row
-- and changes nothing. Not tenant-scoped (an event may name no tenant Tollgate knows), so
-- no tenant_id column: applied_tenant says which tenant an event was applied to, if any.
CREATE TABLE provider_events (
  provider       text NOT NULL CHECK (provider IN ('stripe', 'paypal')),
  event_id       text NOT NULL,
  type           text NOT NULL,
  applied_tenant text,
  outcome        text NOT NULL,
  received_at    timestamptz NOT NULL,
  PRIMARY KEY (provider, event_id)
);

-- Operators see when each user last signed in (a password sign-in or a signup).
ALTER TABLE users ADD COLUMN last_sign_in_at timestamptz;
