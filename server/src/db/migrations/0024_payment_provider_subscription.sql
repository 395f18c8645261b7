-- A provider's payment names the provider subscription it paid for (Stripe's invoice's
-- subscription, PayPal's billing agreement): a payment that arrives before Tollgate
-- follows that subscription (a returning customer's new one, its invoice paid before
-- Stripe tells of it) is recorded only, and its period's credits are granted when the
-- subscription's state is applied. Payments recorded before this migration name none.
ALTER TABLE payments ADD COLUMN provider_subscription_id text;
