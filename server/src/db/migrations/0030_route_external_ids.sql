-- The external ID of a tenant's Bedrock routes is the platform's, one per tenant: AWS's
-- guidance against the confused deputy (the third party generates it, unique per customer).
-- A tenant that chose its own could choose, or guess, another tenant's and have the
-- platform assume that tenant's role with it. 128 random bits, made on first need
-- (routing service.ts externalIdOf) and never changed: the tenant puts it in its role's
-- trust policy. Not a secret (AWS does not treat it as one): shown to the tenant's owners
-- and admins, never to anyone else (row-level security like every tenant table).
CREATE TABLE route_external_ids (
  tenant_id   text PRIMARY KEY REFERENCES tenants (id),
  external_id text NOT NULL UNIQUE CHECK (external_id ~ '^tg-[0-9a-f]{32}$'),
  created_at  timestamptz NOT NULL
);
SELECT tollgate_isolate_by_tenant(ARRAY['route_external_ids']);

-- Bedrock routes stored before keep sending the external ID their PUT gave, alone, as
-- their roles' trust policies name it, until they are replaced: a PUT sends the platform's
-- from then on (followed by the one it gives, if any). Not a change of the route: no
-- version or generation moves (stamps.sql's trigger does not watch this column).
ALTER TABLE tenant_routes ADD COLUMN legacy_external_id boolean NOT NULL DEFAULT false;
-- A Bedrock route whose PUT gave no external ID of its own has no secret (STS gets the
-- tenant's alone); a key route always has its key.
ALTER TABLE tenant_routes ALTER COLUMN secret_sealed DROP NOT NULL;
ALTER TABLE tenant_routes ADD CONSTRAINT tenant_routes_secret_check CHECK (provider = 'bedrock' OR secret_sealed IS NOT NULL);
SET LOCAL app.system = 'on';
UPDATE tenant_routes SET legacy_external_id = true WHERE provider = 'bedrock';
