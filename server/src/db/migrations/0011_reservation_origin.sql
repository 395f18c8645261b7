-- What a reservation was opened for, kept on the reservation itself: the principal that
-- opened it, its role, the meter it counted on (and whether that count was a bypass) and
-- the provider route the decision named. The run's usage record (written when the
-- reservation is settled, released or expired) and the settlement's price are read from
-- here, so neither has to find the decision again.
ALTER TABLE credit_reservations
  ADD COLUMN actor_type text,
  ADD COLUMN actor_id   text,
  ADD COLUMN role       text,
  ADD COLUMN meter      text,
  ADD COLUMN bypass     boolean NOT NULL DEFAULT false,
  ADD COLUMN route      jsonb;
