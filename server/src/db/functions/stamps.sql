-- The stamps of migration 0009: every change to state the decision's rules read bumps a
-- generation, in the transaction of the change, so a snapshot read before it is known
-- stale (gate/snapshot.ts, db/functions/decide.sql). Triggers, not application code:
-- a change made any way at all, a row edited by hand included, is stamped.

-- A stamped row changed itself (a tenant's status, a user's status or sessions, a service key's revocation).
CREATE OR REPLACE FUNCTION tollgate_stamp_own_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.generation := OLD.generation + 1;
  RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER tenants_stamp BEFORE UPDATE OF status ON tenants
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_own_row();

-- A row that belongs to a tenant (its subscription, overrides, module switches, members,
-- API keys, provider routes): the tenant's generation moves.
CREATE OR REPLACE FUNCTION tollgate_stamp_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE tenants SET generation = generation + 1
   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
  RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER subscriptions_stamp AFTER INSERT OR UPDATE OR DELETE ON subscriptions
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_tenant();
CREATE OR REPLACE TRIGGER tenant_overrides_stamp AFTER INSERT OR UPDATE OR DELETE ON tenant_overrides
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_tenant();
CREATE OR REPLACE TRIGGER tenant_modules_stamp AFTER INSERT OR UPDATE OR DELETE ON tenant_modules
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_tenant();
CREATE OR REPLACE TRIGGER memberships_stamp AFTER INSERT OR UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_tenant();
-- A tenant's provider routes (migration 0014): the decision names the route it read. Not a
-- new seal of the same secret (tollgate secrets reseal), which changes no route.
CREATE OR REPLACE TRIGGER tenant_routes_stamp
  AFTER INSERT OR DELETE OR UPDATE OF provider, region, role_arn, base_url, models, enabled, version ON tenant_routes
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_tenant();
-- A key's validity and limits, not its last-used time (written every few seconds).
CREATE OR REPLACE TRIGGER api_keys_stamp
  AFTER UPDATE OF revoked_at, expires_at, grace_until, scopes, usage_cap, rate_limit, rate_limit_window_seconds OR DELETE ON api_keys
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_tenant();

-- A user's status and password resets; a service key's revocation.
CREATE OR REPLACE TRIGGER users_stamp BEFORE UPDATE OF status, sessions_valid_after ON users
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_own_row();
CREATE OR REPLACE TRIGGER service_keys_stamp BEFORE UPDATE OF revoked_at ON service_keys
  FOR EACH ROW EXECUTE FUNCTION tollgate_stamp_own_row();
