-- TOTP two-factor authentication (RFC 6238) with recovery codes, and the short-lived
-- tickets that carry a password login to its second factor. Security state like
-- the sessions (see command-api's `oauth` module docs).

-- One authenticator per user. The secret is the HMAC key both sides share, so it
-- is stored as given (base32): whoever reads this table can make codes, but still
-- needs the password.
CREATE TABLE mfa_totp (
    user_id     BIGINT PRIMARY KEY,
    secret      TEXT NOT NULL,
    -- The newest time step a code was accepted for: a code is good once (RFC 6238 §5.2).
    last_step   BIGINT NOT NULL,
    enabled_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Single-use recovery ("backup") codes, SHA-256 hashed.
CREATE TABLE mfa_recovery_codes (
    code_hash  BYTEA PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES mfa_totp (user_id) ON DELETE CASCADE,
    used_at    TIMESTAMPTZ
);
CREATE INDEX mfa_recovery_codes_by_user ON mfa_recovery_codes (user_id);

-- A password login waiting for its second factor (Discord's `ticket`).
CREATE TABLE mfa_tickets (
    ticket_hash  BYTEA PRIMARY KEY,
    user_id      BIGINT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mfa_tickets_by_expiry ON mfa_tickets (expires_at);
