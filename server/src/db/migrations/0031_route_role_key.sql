-- A role ARN is one tenant's (routing service.ts put, docs/routing.md "A role is one
-- tenant's"): a route naming a role another tenant's route names is refused. Roles are
-- compared as IAM knows them: partition, account and name — not the path (a role's name is
-- unique in its account whatever its path) and in any case (IAM role names are unique
-- ignoring case). tollgate_role_key is that comparison, here because the index is built
-- on it; db/functions/routes.sql asks through it.
CREATE FUNCTION tollgate_role_key(arn text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT lower(regexp_replace(arn, ':role/(.*/)?', ':role/')) $$;
CREATE INDEX tenant_routes_role_key_idx ON tenant_routes (tollgate_role_key(role_arn)) WHERE role_arn IS NOT NULL;
