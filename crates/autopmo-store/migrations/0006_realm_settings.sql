-- AutoPMO schema, version 6: realm settings imported from a Keycloak realm
-- export (`autopmo realm import`), shared by every replica.

CREATE TABLE realm_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
