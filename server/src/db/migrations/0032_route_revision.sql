-- A route's revision: a new random value with every change (routing service.ts put), kept
-- with the decision's route (credit_reservations.route.revision). POST /v1/routes/credentials
-- answers a decision only while its route is still at the revision the decision read: a
-- route changed since (another role, external ID, key, region, models …) is not tried on
-- that decision, so one decision cannot be replayed against route after route. Not
-- `version`: a route deleted and created again starts at 1 again. Routes stored before get
-- one each here; decisions made before name none, and give no credentials (ask again).
ALTER TABLE tenant_routes ADD COLUMN revision text;
SET LOCAL app.system = 'on';
UPDATE tenant_routes SET revision = replace(gen_random_uuid()::text, '-', '');
ALTER TABLE tenant_routes ALTER COLUMN revision SET NOT NULL;
