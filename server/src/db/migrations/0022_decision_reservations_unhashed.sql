-- A reservation's request_hash answers a retried reserve call under the same idempotency
-- key: the same request is replayed, another one is a conflict. Since 0018 only the
-- in-process reserve's reservations are looked up by key; an admitted decision's
-- reservation is kept once per key by the decision itself (decision_replays, with the
-- request's own fingerprint), and nothing reads its request_hash. An admitted decision now
-- writes none: 65 bytes fewer in each of its reservation rows (of ~500), in the table and
-- in the write-ahead log, and one fingerprint fewer for the server to spell and hash
-- (issue 24, item 1). Rows written before keep theirs.
ALTER TABLE credit_reservations ALTER COLUMN request_hash DROP NOT NULL;
