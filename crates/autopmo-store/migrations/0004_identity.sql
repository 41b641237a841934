-- AutoPMO schema, version 4: local accounts, brute-force state, sessions,
-- refresh tokens, signing keys, password resets and invites (guide §2).

ALTER TABLE users ADD COLUMN password_hash TEXT;

ALTER TABLE users ADD COLUMN password_changed_at TEXT;

ALTER TABLE users ADD COLUMN must_change_password BIGINT NOT NULL DEFAULT 0;

-- Brute-force protection state per account (autopmo-identity's
-- UserLoginFailures as JSON), shared by every replica.
CREATE TABLE login_failures (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Throttling per client address, across accounts. The key is a keyed hash
-- of the address: addresses are not stored in clear.
CREATE TABLE address_throttles (
    address_key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('browser', 'api')),
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    auth_time TEXT NOT NULL,
    amr TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT,
    CONSTRAINT sessions_secret_unique UNIQUE (secret_hash)
);

CREATE INDEX sessions_user_idx ON sessions (user_id, revoked_at);

-- Refresh tokens: single use, rotated; a family is every token descended
-- from one login. Only hashes are stored.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    family_id TEXT NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- Token signing keys, the private half sealed by the keyring.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    kek_id TEXT NOT NULL,
    private_key TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at TEXT NOT NULL,
    retired_at TEXT
);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE TABLE invites (
    token_hash TEXT PRIMARY KEY,
    email_normalized TEXT NOT NULL,
    roles TEXT NOT NULL,
    created_by TEXT REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);
