-- A password reset signs out the access tokens issued within its own second too.
--
-- Access tokens now carry their issue time to the millisecond (auth/tokens.ts), and the
-- batch compares it with users.sessions_valid_after to the millisecond, as sessionEnded
-- (tenancy/access.ts) does: a token issued at or before the reset is refused. Both sides
-- were whole seconds before, so a token issued earlier within the reset's second stayed
-- valid until it expired.
--
-- One comparison of 0007's function changes, so this migration edits the function's own
-- definition instead of repeating its 400 lines; it fails unless the comparison it
-- replaces occurs exactly once. The live function is therefore 0007's text with this
-- one line replaced: a later migration that rewrites tollgate_decide must start from
-- that (pg_get_functiondef), not from 0007's file. The batched case of "a user's access
-- token signed out by a password reset" (gate/group-commit.test.ts) fails otherwise.
DO $do$
DECLARE
  def text := pg_get_functiondef('tollgate_decide(jsonb, jsonb)'::regprocedure);
  old text := $$WHEN (q.d->>'issuedAt')::bigint < floor(extract(epoch FROM q.u_after)) THEN$$;
  new text := $$WHEN round((q.d->>'issuedAt')::numeric * 1000) <= floor(extract(epoch FROM q.u_after) * 1000) THEN$$;
BEGIN
  IF array_length(string_to_array(def, old), 1) IS DISTINCT FROM 2 THEN
    RAISE EXCEPTION 'tollgate_decide: the session check to replace is not there exactly once';
  END IF;
  EXECUTE replace(def, old, new);
END $do$;
