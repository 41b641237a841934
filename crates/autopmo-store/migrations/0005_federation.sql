-- AutoPMO schema, version 5: OIDC federation (docs/federation.md).

-- Which external identity is which user: (issuer, subject) is the
-- identity an OIDC provider asserts; one user may have several.
CREATE TABLE federated_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    linked_at TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

CREATE INDEX federated_identities_user_idx ON federated_identities (user_id);

-- Browser logins in progress: one row per `state`, deleted when the
-- callback uses it (single use) or when it expires. Only the state's
-- SHA-256 is stored; the PKCE verifier and the nonce are derived from the
-- state with a keyring key, so nothing here lets anyone finish a login.
CREATE TABLE oidc_logins (
    state_hash TEXT PRIMARY KEY,
    issuer_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE INDEX oidc_logins_expiry_idx ON oidc_logins (expires_at);
