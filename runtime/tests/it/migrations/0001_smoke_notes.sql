-- A throwaway table proving that sqlx migrations run against the project's PostgreSQL.
CREATE TABLE smoke_notes (
    id BIGSERIAL PRIMARY KEY,
    body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
