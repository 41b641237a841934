"""Seeds a fresh AutoPMO server with one of everything the API's path
parameters name, and writes the schemathesis configuration that pins those
parameters, so that the fuzzer reaches the handlers instead of 404s.

    python seed.py BASE_URL TOKENS_JSON CONFIG_OUT

TOKENS_JSON holds the API tokens and user ids the harness made with the CLI:
{"actor": token of the user under test, "admin": a helper system_admin,
 "pm": a helper project_manager, "dev": [id, id] two developers}.

Each DELETE (and the approval decisions) gets a victim of its own, so that
deleting it does not take the fixture every other operation uses.
Standard library only: it runs in the schemathesis venv or any python3.
"""

import json
import sys
import urllib.error
import urllib.request


def call(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"seed: {method} {path} answered {e.code}: {e.read()[:500]!r}")


def main():
    base, tokens_path, out = sys.argv[1], sys.argv[2], sys.argv[3]
    t = json.load(open(tokens_path))
    actor, admin, pm = t["actor"], t["admin"], t["pm"]
    dev, dev2 = t["dev"]

    def project(name):
        _, p = call(base, actor, "POST", "/api/v1/projects",
                    {"name": name, "budget": {"amount": "50000.00", "currency": "USD"}})
        return p["id"]

    p = project("harness fixture")
    p_del = project("harness victim")

    def task(title):
        _, x = call(base, actor, "POST", f"/api/v1/projects/{p}/tasks", {"title": title, "estimate_hours": "2"})
        return x["id"]

    def cost(note):
        _, x = call(base, actor, "POST", f"/api/v1/projects/{p}/costs",
                    {"entry_date": "2026-12-01", "amount": "10.00", "category": "labor", "note": note})
        return x["id"]

    t_main, t_del = task("fixture task"), task("victim task")
    c_main, c_del = cost("fixture cost"), cost("victim cost")
    for user in (dev, dev2):
        call(base, actor, "POST", f"/api/v1/projects/{p}/members", {"user_id": user, "kind": "member"})

    def approval():
        _, x = call(base, pm, "POST", "/api/v1/projects",
                    {"name": "harness approval", "budget": {"amount": "5000000.00", "currency": "USD"}})
        return x["approval"]["id"]

    a_approve, a_reject = approval(), approval()

    def account(name):
        _, x = call(base, admin, "POST", "/api/v1/service-accounts",
                    {"name": name, "roles": ["developer"], "description": "harness"})
        return x["id"]

    sa, sa_del = account("harness-sa"), account("harness-sa-victim")

    def key(name):
        _, x = call(base, admin, "POST", f"/api/v1/service-accounts/{sa}/keys", {"name": name})
        return x["id"]

    k_main, k_del = key("fixture"), key("victim")

    pinned = {
        "path.project_id": p, "path.task_id": t_main, "path.cost_id": c_main, "path.user_id": dev,
        "path.account_id": sa, "path.key_id": k_main, "path.approval_id": a_approve,
    }
    victims = [
        ("DELETE /api/v1/projects/{project_id}", {"path.project_id": p_del}),
        ("DELETE /api/v1/projects/{project_id}/tasks/{task_id}", {"path.task_id": t_del}),
        ("DELETE /api/v1/projects/{project_id}/costs/{cost_id}", {"path.cost_id": c_del}),
        ("DELETE /api/v1/projects/{project_id}/members/{user_id}", {"path.user_id": dev2}),
        ("DELETE /api/v1/service-accounts/{account_id}", {"path.account_id": sa_del}),
        ("DELETE /api/v1/service-accounts/{account_id}/keys/{key_id}", {"path.key_id": k_del}),
        ("POST /api/v1/approvals/{approval_id}/reject", {"path.approval_id": a_reject}),
    ]

    def toml_table(d):
        return "{ " + ", ".join(f'"{k}" = "{v}"' for k, v in d.items()) + " }"

    # Top-level keys come before the first table, or TOML would put them in it.
    lines = ["# Written by harness/api/seed.py for one run; pins path parameters to seeded resources.", "",
             "# The user under test, as a personal API token (exempt from step-up).",
             'headers = { Authorization = "Bearer ${HARNESS_API_TOKEN}" }', "",
             "[parameters]"]
    lines += [f'"{k}" = "{v}"' for k, v in pinned.items()]
    # RFC 6585: a request without the If-Match an update requires is answered
    # 428 Precondition Required, which schemathesis does not expect by default.
    lines += ["", "[checks.missing_required_header]",
              'expected-statuses = ["400", "401", "403", "406", "415", "422", "428"]']
    # RFC 9110 §13.2.1: preconditions are evaluated before the request's
    # content is processed, so an update with a stale If-Match is answered
    # 412 whatever its body holds, valid or not. Schemathesis's own list for
    # refused invalid data, with 412 added.
    lines += ["", "[checks.negative_data_rejection]",
              'expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "412", "415", "422", "428", '
              '"429", "5xx"]']
    for name, params in victims:
        lines += ["", "[[operations]]", f'include-name = "{name}"', f"parameters = {toml_table(params)}"]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"seed: project {p}, task {t_main}, cost {c_main}, members {dev} {dev2}, "
          f"approvals {a_approve} {a_reject}, service account {sa} (key {k_main})")


if __name__ == "__main__":
    main()
