-- command-api's own security state for the OAuth 2.0 / OpenID Connect provider:
-- sessions (one per sign-in, each a refresh-token family), their refresh tokens and
-- the short-lived authorization codes. Not domain events (see command-api's
-- `oauth` module docs): secrets are stored only as SHA-256 hashes.

-- One sign-in: a password login of a CloudCord client or an OAuth2 grant to an
-- application. Revoking it ends its whole refresh-token family.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,          -- 128 random bits, base64url; the tokens' `sid`
    user_id         BIGINT NOT NULL,
    client_id       TEXT NOT NULL,
    scopes          TEXT NOT NULL,             -- space-separated
    first_party     BOOLEAN NOT NULL,          -- tokens act with the user's full rights
    auth_time       TIMESTAMPTZ NOT NULL,      -- when the password was checked
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at      TIMESTAMPTZ NOT NULL,      -- refresh tokens of the family end here
    user_agent      TEXT,
    revoked_at      TIMESTAMPTZ,
    revoked_reason  TEXT
);
CREATE INDEX sessions_active_by_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Every refresh token ever issued in a family. Exactly one per live family has
-- `used_at` NULL; presenting one whose `used_at` is set is reuse, which revokes the
-- family (RFC 9700 §4.14.2).
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,             -- SHA-256 of the token
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at     TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);

-- Authorization codes: single use, a few minutes long, bound to the client, the
-- exact redirect_uri and the PKCE S256 challenge.
CREATE TABLE authorization_codes (
    code_hash       BYTEA PRIMARY KEY,         -- SHA-256 of the code
    client_id       TEXT NOT NULL,
    user_id         BIGINT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    scopes          TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,             -- base64url SHA-256 of the verifier
    nonce           TEXT,
    auth_time       TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    used_at         TIMESTAMPTZ,
    -- The session its redemption started: revoked if the code is presented again.
    session_id      TEXT REFERENCES sessions (id) ON DELETE SET NULL
);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);
