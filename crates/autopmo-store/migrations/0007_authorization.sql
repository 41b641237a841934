-- AutoPMO schema, version 7: authorization — service accounts and the
-- budget approvals of guide §3.3.

-- A service account is a user of kind 'service' (for agents and
-- integrations): it has no password and cannot log in; it authenticates
-- with its own API keys (`apmo_sak_…`, hashed in api_tokens like personal
-- tokens) and holds its own, scoped roles.
ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service'));

ALTER TABLE users ADD COLUMN description TEXT NOT NULL DEFAULT '';

-- A budget above the approval threshold asked for by someone who is not a
-- system_admin: the project keeps its previous budget until a system_admin
-- approves. At most one request per project is pending.
CREATE TABLE budget_approvals (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    requester_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('create', 'raise')),
    previous_minor BIGINT NOT NULL CHECK (previous_minor >= 0),
    requested_minor BIGINT NOT NULL CHECK (requested_minor >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'superseded')),
    decided_by TEXT REFERENCES users (id),
    decided_at TEXT,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE UNIQUE INDEX budget_approvals_one_pending_idx ON budget_approvals (project_id) WHERE status = 'pending';
CREATE INDEX budget_approvals_requester_idx ON budget_approvals (requester_id, created_at, id);
CREATE INDEX budget_approvals_created_idx ON budget_approvals (created_at, id);
