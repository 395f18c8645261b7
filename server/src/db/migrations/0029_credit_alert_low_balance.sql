-- credits.low re-arms only when credits are added: the lowest balance the tenant has had
-- since its alert (NULL while not low). Re-armed on available credits back at or above the
-- threshold alone, a tenant hovering at it was told again on every run: a hold took it
-- below, the settlement's unused part or a release brought it back. An alert made before
-- this migration starts from the balance it has now.
ALTER TABLE credit_alerts ADD COLUMN low_balance bigint;
UPDATE credit_alerts al SET low_balance = ca.balance FROM credit_accounts ca WHERE ca.tenant_id = al.tenant_id AND al.low;
