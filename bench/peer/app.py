"""The guide's own stack, as the benchmarks' peer.

FastAPI + uvicorn, PyJWT (RS256, with cryptography), argon2-cffi and SQLite,
serving the endpoints the bench drives on AutoPMO, written the way the
security guide writes them (§2.3 tokens, §3.1 permission matrix, §3.2
"PMs can only access projects they own", §3.3 FastAPI dependencies, §8.1
audit rows). Synchronous handlers: FastAPI runs them on its thread pool, the
idiomatic way to use a blocking driver such as sqlite3.

To be a fair peer it gets what AutoPMO has: the same argon2id parameters, a
2048-bit RS256 key, SQLite in WAL mode with synchronous=FULL (AutoPMO's
durability), one connection per thread, indexes on every lookup, refresh
tokens stored as hashes and rotated on use (reuse ends the family). It does
*not* do what the guide does not ask for: no audit row for reads, no
server-side session check, no sealing or hash chain of audit rows.

Run: PEER_DB=peer.db uvicorn app:app --port 8000 (after seed.py).
"""

import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

DB = os.environ.get("PEER_DB", "peer.db")
ISSUER = "http://peer.local"
AUDIENCE = "autopmo-api"
ACCESS_TTL = 15 * 60
REFRESH_TTL = 7 * 24 * 3600

# The parameters AutoPMO uses (OWASP: argon2id, m = 19 MiB, t = 2, p = 1).
hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))
signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
public_key = signing_key.public_key()

# Guide §3.1, the rows these endpoints need.
PERMISSIONS = {
    "projects:read": {"system_admin", "project_manager", "developer", "stakeholder", "auditor"},
    "projects:update": {"system_admin", "project_manager"},
}

app = FastAPI(title="AutoPMO peer (the guide's stack)")
bearer = HTTPBearer()
_local = threading.local()


def db() -> sqlite3.Connection:
    """This thread's connection (sqlite3 connections are not shared)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, timeout=10, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 10000")
        _local.conn = conn
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection):
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def audit(conn, request: Request, event_type: str, action: str, status: str, user_id, resource, metadata):
    """An audit row in the guide's §8.1 format, in the caller's transaction."""
    conn.execute(
        "INSERT INTO audit_events (event_id, occurred_at, event_type, actor_user_id, actor_ip, actor_user_agent,"
        " resource_type, resource_id, action, status, metadata, request_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            "evt_" + uuid.uuid4().hex,
            now(),
            event_type,
            user_id,
            request.client.host if request.client else None,
            request.headers.get("user-agent"),
            resource[0],
            resource[1],
            action,
            status,
            json.dumps(metadata, sort_keys=True),
            "req_" + uuid.uuid4().hex,
        ),
    )


def issue_tokens(conn, user, family_id=None) -> dict:
    refresh = "rt_" + secrets.token_urlsafe(32)
    issued = int(time.time())
    conn.execute(
        "INSERT INTO refresh_tokens (token_hash, user_id, family_id, expires_at) VALUES (?,?,?,?)",
        (sha256(refresh), user["id"], family_id or str(uuid.uuid4()), issued + REFRESH_TTL),
    )
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user["id"],
        "roles": [user["role"]],
        "iat": issued,
        "exp": issued + ACCESS_TTL,
        "jti": str(uuid.uuid4()),
    }
    access = jwt.encode(claims, signing_key, algorithm="RS256")
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": ACCESS_TTL}


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=256)


class TaskCreate(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=20000)


def current_user(credentials: HTTPAuthorizationCredentials = Depends(bearer)):
    try:
        claims = jwt.decode(
            credentials.credentials, public_key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
        )
    except jwt.InvalidTokenError:
        raise HTTPException(status_code=401, detail="invalid token")
    user = db().execute("SELECT id, username, role, status FROM users WHERE id = ?", (claims["sub"],)).fetchone()
    if user is None or user["status"] != "active":
        raise HTTPException(status_code=401, detail="invalid token")
    return user


def require_permission(permission: str):
    def check(user=Depends(current_user)):
        if user["role"] not in PERMISSIONS[permission]:
            raise HTTPException(status_code=403, detail="Forbidden")
        return user

    return check


def visible_project(conn, project_id: str, user):
    """§3.2: PMs only their own projects; developers and stakeholders the projects they are members of."""
    project = conn.execute("SELECT * FROM projects WHERE id = ?", (project_id,)).fetchone()
    if project is None:
        raise HTTPException(status_code=404, detail="no such project")
    role = user["role"]
    if role == "project_manager" and project["owner_id"] != user["id"]:
        raise HTTPException(status_code=404, detail="no such project")
    if role in ("developer", "stakeholder"):
        member = conn.execute(
            "SELECT 1 FROM project_members WHERE project_id = ? AND user_id = ?", (project_id, user["id"])
        ).fetchone()
        if member is None:
            raise HTTPException(status_code=404, detail="no such project")
    return project


@app.get("/healthz")
def healthz():
    return {"status": "ok"}


@app.post("/api/v1/auth/login")
def login(body: LoginRequest, request: Request):
    conn = db()
    user = conn.execute(
        "SELECT id, username, role, status, password_hash FROM users WHERE username = ?", (body.username,)
    ).fetchone()
    try:
        valid = hasher.verify(user["password_hash"] if user else DUMMY_HASH, body.password) and user is not None
    except (VerifyMismatchError, InvalidHashError):
        valid = False
    valid = valid and user["status"] == "active"
    with transaction(conn):
        user_id = user["id"] if user else None
        event = "auth.login" if valid else "auth.login_failed"
        audit(conn, request, event, "login", "success" if valid else "denied", user_id, ("user", user_id), {})
        tokens = issue_tokens(conn, user) if valid else None
    if tokens is None:
        raise HTTPException(status_code=401, detail="invalid credentials")
    return tokens


@app.post("/api/v1/auth/refresh")
def refresh(body: RefreshRequest, request: Request):
    conn = db()
    reused = False
    with transaction(conn):
        row = conn.execute(
            "SELECT r.user_id, r.family_id, r.used_at, r.expires_at, u.id, u.role, u.status FROM refresh_tokens r"
            " JOIN users u ON u.id = r.user_id WHERE r.token_hash = ?",
            (sha256(body.refresh_token),),
        ).fetchone()
        if row is None or row["expires_at"] < time.time() or row["status"] != "active":
            tokens = None
        elif row["used_at"] is not None:
            # A spent token presented again: end its whole family.
            conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE family_id = ? AND used_at IS NULL",
                (time.time(), row["family_id"]),
            )
            audit(conn, request, "auth.refresh_token_reused", "refresh", "denied", row["user_id"], ("user", row["user_id"]), {})
            tokens, reused = None, True
        else:
            conn.execute("UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ?", (time.time(), sha256(body.refresh_token)))
            tokens = issue_tokens(conn, row, row["family_id"])
    if tokens is None:
        raise HTTPException(status_code=401, detail="refresh token reused" if reused else "invalid refresh token")
    return tokens


def project_view(p) -> dict:
    return {
        "id": p["id"],
        "name": p["name"],
        "description": p["description"],
        "budget": {"amount": f"{p['budget_minor'] / 100:.2f}", "currency": p["currency"]},
        "owner_id": p["owner_id"],
        "status": p["status"],
        "planned_start": p["planned_start"],
        "planned_end": p["planned_end"],
        "created_at": p["created_at"],
        "updated_at": p["updated_at"],
        "version": p["version"],
    }


@app.get("/api/v1/projects/{project_id}")
def get_project(project_id: str, user=Depends(require_permission("projects:read"))):
    return project_view(visible_project(db(), project_id, user))


@app.post("/api/v1/projects/{project_id}/tasks", status_code=201)
def create_task(project_id: str, body: TaskCreate, request: Request, user=Depends(require_permission("projects:update"))):
    conn = db()
    task_id, at = str(uuid.uuid4()), now()
    with transaction(conn):
        visible_project(conn, project_id, user)
        conn.execute(
            "INSERT INTO tasks (id, project_id, title, description, status, assignee_id, estimate_hours,"
            " percent_complete, created_at, updated_at, version) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (task_id, project_id, body.title, body.description, "todo", None, None, 0, at, at, 1),
        )
        audit(conn, request, "task.created", "create", "success", user["id"], ("task", task_id), {"project_id": project_id})
    return {
        "id": task_id,
        "project_id": project_id,
        "title": body.title,
        "description": body.description,
        "status": "todo",
        "percent_complete": 0,
        "created_at": at,
        "updated_at": at,
        "version": 1,
    }
