-- PayPal signs a delivery's body only by its CRC-32, which anyone can match: a recorded
-- transmission (its id, time and signature) must carry its own event and no other. The
-- provider event claimed with it keeps the transmission id, and one transmission id is
-- claimed by one event. Stripe's events name none (their signature covers the body).
ALTER TABLE provider_events ADD COLUMN transmission_id text;
CREATE UNIQUE INDEX provider_events_transmission_key ON provider_events (provider, transmission_id) WHERE transmission_id IS NOT NULL;
