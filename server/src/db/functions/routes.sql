-- Whether a route of another tenant than `tenant` names the IAM role `arn` (migration 0031's
-- tollgate_role_key: partition, account and name, in any case): a role is one tenant's
-- (routing service.ts put). First the role's lock, held until the transaction ends, so two
-- tenants registering one role at once queue here and the second finds the first's route.
-- It looks past the caller's tenant wall for this one question (app.system, put back as it
-- was before it returns; an error aborts the transaction, the setting with it) and answers
-- yes or no, nothing of the other route.
CREATE OR REPLACE FUNCTION tollgate_role_taken(arn text, tenant text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  was text := current_setting('app.system', true);
  taken boolean;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended('route-role:' || tollgate_role_key(arn), 0));
  PERFORM set_config('app.system', 'on', true);
  taken := EXISTS (SELECT 1 FROM tenant_routes WHERE role_arn IS NOT NULL AND tollgate_role_key(role_arn) = tollgate_role_key(arn) AND tenant_id <> tenant);
  PERFORM set_config('app.system', coalesce(was, ''), true);
  RETURN taken;
END $$;
