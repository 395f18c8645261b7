-- Denials as counts (issue 24): a tenant calling past its limit was one decision-log row
-- per refused call, thousands a second from one tenant. Now a denial is logged once per
-- (tenant, principal, code, minute) and flush of the log, its row standing for every such
-- denial the flush saw: `calls` says how many. An allowed decision (and a replayed
-- answer) is still one row each, with calls = 1. Counting decisions sums `calls`.
ALTER TABLE decision_log ADD COLUMN calls integer NOT NULL DEFAULT 1 CHECK (calls >= 1);
