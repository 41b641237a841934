-- AutoPMO schema, version 8: multi-factor authentication (guide §2.2).

-- A second factor of a user: a TOTP secret or an SMS phone number (both
-- sealed by the keyring), or a WebAuthn credential (its public key, as
-- the WebAuthn library serialises it). Counted only once confirmed.
CREATE TABLE mfa_factors (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('totp', 'webauthn', 'sms')),
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    credential_id TEXT,
    confirmed_at TEXT,
    last_step BIGINT,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    CONSTRAINT mfa_factors_name_unique UNIQUE (user_id, name)
);

CREATE INDEX mfa_factors_user_idx ON mfa_factors (user_id);

-- A WebAuthn credential belongs to one account.
CREATE UNIQUE INDEX mfa_factors_credential_idx ON mfa_factors (credential_id);

-- Single-use recovery codes: a keyed hash of each, never the code.
CREATE TABLE mfa_recovery_codes (
    code_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    used_at TEXT
);

CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

-- A login waiting for its second factor (or for its first factor to be
-- configured), or a step-up or enrolment ceremony in progress. The token
-- the client holds is stored as its SHA-256 only.
CREATE TABLE mfa_challenges (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('login', 'enroll', 'step_up', 'register')),
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
);

CREATE INDEX mfa_challenges_user_idx ON mfa_challenges (user_id);

-- SMS codes sent, for the per-user rate limit.
CREATE TABLE mfa_sms_sends (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sent_at TEXT NOT NULL
);

CREATE INDEX mfa_sms_sends_user_idx ON mfa_sms_sends (user_id, sent_at);
