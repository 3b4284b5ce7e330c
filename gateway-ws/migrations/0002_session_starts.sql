-- Bots' session starts (see gateway-ws/src/session_starts.rs): one row per Identify
-- of a bot that started a session. The gateway refuses an Identify past the day's
-- allowance, or within 5 s of another start in its bucket
-- (shard_id % max_concurrency); query-api reads the same rows for GET /gateway/bot's
-- session_start_limit. Rows older than a day count no more and are swept.
CREATE TABLE session_starts (
    user_id int8 NOT NULL,
    bucket int4 NOT NULL,
    started_at timestamptz NOT NULL
);

CREATE INDEX session_starts_by_user ON session_starts (user_id, started_at);
CREATE INDEX session_starts_expiry ON session_starts (started_at);
