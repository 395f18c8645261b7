-- The dispatcher claims due deliveries in turns across tenants (webhooks/repo.ts claimDue):
-- it finds the tenants with a pending delivery one index probe each, then each one's oldest
-- due deliveries. Claimed oldest-first over every tenant, one tenant's backlog (many slow
-- endpoints) was sent before any other tenant's later events (review item 2). The index by
-- next_attempt_at alone served only that order and nothing else reads it.
CREATE INDEX webhook_deliveries_pending_tenant_idx ON webhook_deliveries (tenant_id, next_attempt_at) WHERE status = 'pending';
DROP INDEX webhook_deliveries_due_idx;
