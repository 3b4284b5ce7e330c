-- Sessions handed over between gateway processes (see gateway-ws/src/handover): a
-- process that shuts down, or is asked for a session a client resumes elsewhere,
-- writes it here; the process the client resumes on claims it and catches up.

-- Guild states as the handing-over process saw them, once per hand-over.
CREATE TABLE handover_guilds (
    handover text NOT NULL,
    guild_id int8 NOT NULL,
    state jsonb NOT NULL,
    PRIMARY KEY (handover, guild_id)
);

-- One row per session; claimed (deleted) by the process that resumes it.
CREATE TABLE handover_sessions (
    session_id text PRIMARY KEY,
    user_id int8 NOT NULL,
    handover text NOT NULL,
    export jsonb NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX handover_sessions_expiry ON handover_sessions (expires_at);
CREATE INDEX handover_sessions_handover ON handover_sessions (handover);
