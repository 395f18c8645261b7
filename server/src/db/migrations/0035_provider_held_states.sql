-- A provider subscription's state held back (modules/payments held-states.ts): a new
-- subscription would take a tenant served by what it has (a paid period, a trial, a past
-- due within its grace) away from it before anything covers the new one's price. PayPal
-- lets the buyer set a subscription's custom_id, so anyone could activate one naming any
-- tenant and, never paying, leave it pending_payment. The state waits here until a payment
-- of that subscription covers its plan's price (or a later state of it serves the tenant,
-- or the tenant is no longer served), and is applied then. One row per tenant and provider
-- subscription; a later state of it replaces the one held.
CREATE TABLE provider_held_states (
  tenant_id                text NOT NULL REFERENCES tenants (id),
  provider                 text NOT NULL CHECK (provider IN ('stripe', 'paypal')),
  provider_subscription_id text NOT NULL,
  -- The state as provider-events.ts ProviderState has it (instants as ISO strings).
  state                    jsonb NOT NULL,
  created_at               timestamptz NOT NULL,
  updated_at               timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, provider, provider_subscription_id)
);
-- A payment naming no tenant finds the tenant a state of its subscription is held for.
CREATE INDEX provider_held_states_subscription_idx ON provider_held_states (provider, provider_subscription_id);
SELECT tollgate_isolate_by_tenant(ARRAY['provider_held_states']);
