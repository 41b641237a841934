"""Seeds the peer's SQLite database with the data set AutoPMO's bench seeds
(same roles, same proportions, same password hashed with the same argon2id
parameters) and writes the manifest the runner reads (the shape of
`Manifest` in bench/src/seed.rs).

    python seed.py --db peer.db --scale 1.0 --manifest manifest.json
"""

import argparse
import json
import random
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

from argon2 import PasswordHasher

PASSWORD = "bench: a long and unusual passphrase, 2026"  # as bench/src/seed.rs
FORMAT = 1

SCHEMA = """
CREATE TABLE users (
    id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, email TEXT NOT NULL UNIQUE, role TEXT NOT NULL,
    status TEXT NOT NULL, password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, budget_minor INTEGER NOT NULL,
    currency TEXT NOT NULL, owner_id TEXT NOT NULL REFERENCES users (id), status TEXT NOT NULL,
    planned_start TEXT, planned_end TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX projects_owner_idx ON projects (owner_id);
CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE, user_id TEXT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL, PRIMARY KEY (project_id, user_id));
CREATE INDEX project_members_user_idx ON project_members (user_id);
CREATE TABLE tasks (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE, title TEXT NOT NULL,
    description TEXT NOT NULL, status TEXT NOT NULL, assignee_id TEXT REFERENCES users (id), estimate_hours REAL,
    percent_complete INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, version INTEGER NOT NULL);
CREATE INDEX tasks_project_idx ON tasks (project_id, created_at);
CREATE INDEX tasks_assignee_idx ON tasks (assignee_id);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users (id), family_id TEXT NOT NULL,
    used_at REAL, expires_at REAL NOT NULL);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, occurred_at TEXT NOT NULL, event_type TEXT NOT NULL,
    actor_user_id TEXT, actor_ip TEXT, actor_user_agent TEXT, resource_type TEXT, resource_id TEXT,
    action TEXT NOT NULL, status TEXT NOT NULL, metadata TEXT NOT NULL, request_id TEXT);
CREATE INDEX audit_events_time_idx ON audit_events (occurred_at);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_user_id, occurred_at);
CREATE INDEX audit_events_resource_idx ON audit_events (resource_type, resource_id, occurred_at);
"""


def roles(n):
    """The role and username prefix of each of n users, in AutoPMO's bench proportions."""
    share = lambda pct: max(1, round(n * pct / 100))
    bounds = [(share(0.5), "system_admin", "adm"), (share(10), "project_manager", "pm"), (share(2), "auditor", "aud"),
              (share(10), "stakeholder", "stk"), (share(2.5), "ml_engineer", "ml")]
    out = []
    for i in range(n):
        start, found = 0, ("developer", "dev")
        for size, role, prefix in bounds:
            if i < start + size:
                found = (role, prefix)
                break
            start += size
        out.append(found)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--manifest", required=True)
    args = parser.parse_args()
    rng = random.Random(20261204)
    now = datetime.now(timezone.utc)
    iso = lambda t: t.isoformat(timespec="microseconds")
    n_users = max(40, round(1000 * args.scale))
    n_projects = max(20, round(10000 * args.scale))
    per_project = max(1, max(200, round(100000 * args.scale)) // n_projects)
    n_events = max(1000, round(1000000 * args.scale))

    conn = sqlite3.connect(args.db, isolation_level=None)
    conn.executescript("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;" + SCHEMA)
    conn.execute("BEGIN")
    password_hash = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1).hash(PASSWORD)
    users = []
    for i, (role, prefix) in enumerate(roles(n_users)):
        name = "admin" if i == 0 else f"{prefix}{i:04d}"
        users.append((str(uuid.uuid4()), name, role))
    conn.executemany(
        "INSERT INTO users VALUES (?,?,?,?,?,?,?)",
        [(u, name, f"{name}@bench.example.org", role, "active", password_hash, iso(now - timedelta(days=400)))
         for u, name, role in users],
    )
    pms = [i for i, u in enumerate(users) if u[2] == "project_manager"]
    devs = [i for i, u in enumerate(users) if u[2] == "developer"]
    stakeholders = [i for i, u in enumerate(users) if u[2] == "stakeholder"]
    owned = {i: [] for i in pms}
    projects, members, tasks = [], [], []
    for p in range(n_projects):
        owner = pms[p % len(pms)]
        pid = str(uuid.uuid4())
        created = now - timedelta(days=300) + timedelta(seconds=2400 * p)
        start = created.date() + timedelta(days=rng.randrange(30))
        projects.append((pid, f"Project {p:05d}", "Scope, milestones and budget agreed with the steering committee.",
                         1_000_000 + rng.randrange(94_000_000), "USD", users[owner][0], rng.choice(
                             ["proposed", "active", "active", "on_hold", "completed"]), start.isoformat(),
                         (start + timedelta(days=60 + rng.randrange(400))).isoformat(), iso(created), iso(created), 1))
        owned[owner].append(pid)
        team = [owner] + rng.sample(devs, min(6, len(devs)))
        members += [(pid, users[m][0], "manager" if m == owner else "member") for m in team]
        if stakeholders:
            members.append((pid, users[rng.choice(stakeholders)][0], "stakeholder"))
        for k in range(per_project):
            at = iso(created + timedelta(minutes=k))
            assignee = users[rng.choice(team)][0] if rng.random() < 0.8 else None
            tasks.append((str(uuid.uuid4()), pid, f"Work package {k}: design, build and review",
                          "Acceptance criteria agreed with the project manager.",
                          rng.choice(["todo", "in_progress", "blocked", "done"]), assignee,
                          rng.randrange(100, 4000) / 100, rng.randrange(101), at, at, 1))
    conn.executemany("INSERT INTO projects VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", projects)
    conn.executemany("INSERT INTO project_members VALUES (?,?,?)", members)
    conn.executemany("INSERT INTO tasks VALUES (?,?,?,?,?,?,?,?,?,?,?)", tasks)
    conn.execute("COMMIT")

    first = now - timedelta(days=60)
    step = (timedelta(days=60) - timedelta(hours=1)) / n_events
    kinds = [("http.request", "read", "project")] * 6 + [("task.created", "create", "task"),
                                                         ("auth.login", "login", "user")]
    batch = []
    for e in range(n_events):
        kind, action, rtype = kinds[e % len(kinds)]
        user = users[rng.randrange(len(users))]
        batch.append(("evt_" + uuid.uuid4().hex, iso(first + step * e), kind, user[0], f"10.20.{e % 250}.{e % 200}",
                      "Mozilla/5.0", rtype, projects[rng.randrange(len(projects))][0], action, "success",
                      '{"http_status":200}', "req_" + uuid.uuid4().hex))
        if len(batch) == 50_000 or e == n_events - 1:
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO audit_events (event_id, occurred_at, event_type, actor_user_id, actor_ip,"
                " actor_user_agent, resource_type, resource_id, action, status, metadata, request_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", batch)
            conn.execute("COMMIT")
            batch = []
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    manifest = {
        "format": FORMAT,
        "scale": args.scale,
        "password": PASSWORD,
        "users": len(users),
        "projects": len(projects),
        "tasks": len(tasks),
        "events": n_events,
        "pms": [{"username": users[i][1], "id": users[i][0], "projects": owned[i]} for i in pms],
        "auditors": [u[1] for u in users if u[2] == "auditor"],
        "logins": [u[1] for u in users if u[2] != "system_admin"],
        "sample_user_ids": [rng.choice(users)[0] for _ in range(200)],
        "sample_project_ids": [rng.choice(projects)[0] for _ in range(200)],
        "first_event_at": first.isoformat().replace("+00:00", "Z"),
    }
    with open(args.manifest, "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main()
