-- AutoPMO schema, version 2: the audit trail (guide §8), its chain head,
-- signed checkpoints, and the per-person keys that seal personal data in it.

CREATE TABLE audit_events (
    sequence BIGINT PRIMARY KEY,
    event_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    event_type TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('authentication', 'authorization', 'data_access', 'administrative', 'system')),
    actor_user_id TEXT,
    actor_subject TEXT,
    actor_username TEXT,
    actor_ip TEXT,
    actor_user_agent TEXT,
    resource_type TEXT,
    resource_id TEXT,
    resource_name TEXT,
    action TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('success', 'failure', 'denied')),
    metadata TEXT NOT NULL,
    request_id TEXT,
    session_id TEXT,
    decision_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    CONSTRAINT audit_events_event_id_unique UNIQUE (event_id)
);

CREATE INDEX audit_events_time_idx ON audit_events (occurred_at, sequence);
CREATE INDEX audit_events_type_idx ON audit_events (event_type, sequence);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_user_id, sequence);
CREATE INDEX audit_events_resource_idx ON audit_events (resource_type, resource_id, sequence);
CREATE INDEX audit_events_category_idx ON audit_events (category, occurred_at);

-- The end of the chain. Every audited transaction locks this one row first,
-- so the sequence is one across all replicas.
CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    sequence BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, sequence, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    sequence BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- One data key per person (or per day for anonymous requests), wrapped by
-- the keyring's key-encryption key. Erasure destroys the wrapped key.
CREATE TABLE subject_keys (
    subject TEXT PRIMARY KEY,
    kek_id TEXT NOT NULL,
    wrapped_key TEXT,
    created_at TEXT NOT NULL,
    destroyed_at TEXT
);
