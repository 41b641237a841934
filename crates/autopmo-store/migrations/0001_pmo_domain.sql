-- AutoPMO schema, version 1: users, roles, API tokens and the PMO domain.
-- Portable SQL only (SQLite and PostgreSQL): TEXT for ids, timestamps
-- (RFC 3339, UTC, fixed width so they sort) and dates (YYYY-MM-DD); BIGINT
-- for counts and for money in minor units. One statement per `;` line end.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL,
    display_name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'locked')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT users_username_unique UNIQUE (username),
    CONSTRAINT users_email_unique UNIQUE (email_normalized)
);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('system_admin', 'project_manager', 'developer', 'stakeholder', 'auditor', 'ml_engineer')),
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash)
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    description TEXT NOT NULL,
    budget_minor BIGINT NOT NULL CHECK (budget_minor >= 0),
    currency TEXT NOT NULL CHECK (length(currency) = 3),
    owner_id TEXT NOT NULL REFERENCES users (id),
    status TEXT NOT NULL CHECK (status IN ('proposed', 'active', 'on_hold', 'completed', 'cancelled')),
    planned_start TEXT,
    planned_end TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    CHECK (planned_start IS NULL OR planned_end IS NULL OR planned_end >= planned_start)
);

CREATE INDEX projects_owner_idx ON projects (owner_id);
CREATE INDEX projects_created_idx ON projects (created_at, id);
CREATE INDEX projects_name_idx ON projects (name, id);

CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('manager', 'member', 'stakeholder')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id)
);

CREATE INDEX project_members_user_idx ON project_members (user_id);

CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('todo', 'in_progress', 'blocked', 'done')),
    assignee_id TEXT REFERENCES users (id),
    estimate_hundredths BIGINT CHECK (estimate_hundredths >= 0),
    actual_hundredths BIGINT CHECK (actual_hundredths >= 0),
    planned_start TEXT,
    planned_finish TEXT,
    percent_complete BIGINT NOT NULL CHECK (percent_complete BETWEEN 0 AND 100),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL,
    CONSTRAINT tasks_project_id_unique UNIQUE (project_id, id),
    CHECK (planned_start IS NULL OR planned_finish IS NULL OR planned_finish >= planned_start)
);

CREATE INDEX tasks_project_created_idx ON tasks (project_id, created_at, id);
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id);

-- Both ends of a dependency belong to the same project: the composite
-- foreign keys make that a rule of the database, not only of the code.
CREATE TABLE task_dependencies (
    project_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    depends_on_id TEXT NOT NULL,
    PRIMARY KEY (task_id, depends_on_id),
    FOREIGN KEY (project_id, task_id) REFERENCES tasks (project_id, id) ON DELETE CASCADE,
    FOREIGN KEY (project_id, depends_on_id) REFERENCES tasks (project_id, id) ON DELETE CASCADE,
    CHECK (task_id <> depends_on_id)
);

CREATE INDEX task_dependencies_project_idx ON task_dependencies (project_id);
CREATE INDEX task_dependencies_depends_on_idx ON task_dependencies (depends_on_id);

CREATE TABLE cost_entries (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    entry_date TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    category TEXT NOT NULL CHECK (category IN ('labor', 'materials', 'equipment', 'services', 'software', 'travel', 'other')),
    note TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version BIGINT NOT NULL
);

CREATE INDEX cost_entries_project_idx ON cost_entries (project_id, created_at, id);
