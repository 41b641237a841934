"""Reads a schemathesis NDJSON report and says what it found.

    python summarize.py REPORT.ndjson FINDINGS.md LABEL

Prints a few summary lines; writes every distinct failure (operation, check,
the request and the response, why) to FINDINGS.md; exits 1 when a blocking
one was found. Every schemathesis check blocks — any 5xx, any response that
does not match the document (body, status code, content type, headers), a
missing required header accepted, an operation that ignores authentication,
and any schemathesis error (an operation it could not test) — except
`positive_data_acceptance` (a request the document admits but a validator
refuses with a 4xx: the request schemas are looser than the validators),
which is reported and blocks only with AUTOPMO_HARNESS_API_STRICT=1.

The run also fails when the token under test did not work: reads that every
role may make (`REACHABLE`) got no 2xx answer.
"""

import base64
import collections
import json
import os
import statistics
import sys

NON_BLOCKING = {"positive_data_acceptance"}
# Operations every role may call on the seeded fixtures: each must have got a 2xx.
REACHABLE = {"GET /api/v1/me", "GET /api/v1/projects", "GET /api/v1/projects/{project_id}",
             "GET /api/v1/projects/{project_id}/tasks"}
SCHEMA_CHECKS = {"response_schema_conformance", "status_code_conformance", "content_type_conformance",
                 "response_headers_conformance"}


def text_of(payload, limit=600):
    if not payload:
        return ""
    if isinstance(payload, dict) and "$base64" in payload:
        raw = base64.b64decode(payload["$base64"])
        try:
            s = raw.decode()
        except UnicodeDecodeError:
            s = repr(raw)
    else:
        s = json.dumps(payload)
    return s if len(s) <= limit else s[:limit] + "…"


def main():
    report, findings_path, label = sys.argv[1], sys.argv[2], sys.argv[3]
    strict = os.environ.get("AUTOPMO_HARNESS_API_STRICT") == "1"
    statuses = collections.Counter()
    per_operation = collections.Counter()  # operation label -> test cases
    succeeded = set()  # operations with at least one 2xx
    failures = {}  # (operation, check) -> {count, info, example}
    server_errors = []
    errors = []
    for line in open(report):
        event = json.loads(line)
        kind, body = next(iter(event.items()))
        if kind == "NonFatalError":
            errors.append(f"{body.get('label', '?')}: {body.get('info', {}).get('message', body)}"[:800])
            continue
        if kind != "ScenarioFinished":
            continue
        recorder = body.get("recorder", {})
        op = recorder.get("label", "?")
        interactions = recorder.get("interactions", {})
        for case_id in recorder.get("cases", {}):
            per_operation[op] += 1
            inter = interactions.get(case_id)
            status = inter["response"]["status_code"] if inter and inter.get("response") else None
            if status is not None:
                statuses[status] += 1
                if 200 <= status < 300:
                    succeeded.add(op)
            example = None
            if inter:
                req, resp = inter["request"], inter.get("response") or {}
                headers = {k: v for k, v in req.get("headers", {}).items() if k.lower() != "authorization"}
                example = {
                    "request": f"{req['method']} {req['uri']}",
                    "headers": headers,
                    "body": text_of(req.get("body")),
                    "status": status,
                    "response": text_of(resp.get("content")),
                }
            if status is not None and status >= 500:
                server_errors.append((op, example))
            for check in recorder.get("checks", {}).get(case_id, []):
                if check.get("status") != "failure":
                    continue
                info = check.get("failure_info", {}).get("failure", {})
                key = (op, check["name"])
                entry = failures.setdefault(key, {"count": 0, "info": info, "example": example})
                entry["count"] += 1

    def blocks(check):
        return strict or check not in NON_BLOCKING

    blocking = {k: v for k, v in failures.items() if blocks(k[1])}
    counts = sorted(per_operation.values()) or [0]
    classes = collections.Counter(f"{s // 100}xx" for s in statuses.elements())
    print(f"api [{label}]: {len(per_operation)} operations, {sum(counts)} test cases "
          f"(per operation: min {counts[0]}, median {statistics.median(counts):.0f}, max {counts[-1]}); responses "
          + ", ".join(f"{k} {v}" for k, v in sorted(classes.items())))
    print(f"api [{label}]: server errors (5xx): {len(server_errors)}; schema violations: "
          f"{sum(v['count'] for k, v in failures.items() if k[1] in SCHEMA_CHECKS)}; "
          f"schemathesis errors: {len(errors)}; operations with a 2xx: {len(succeeded)} of {len(per_operation)}")
    if failures:
        by_check = collections.Counter(k[1] for k in failures)
        print(f"api [{label}]: distinct failing (operation, check) pairs: {len(failures)} — "
              + ", ".join(f"{name} {n}" for name, n in by_check.most_common()))

    with open(findings_path, "w") as out:
        out.write(f"# schemathesis findings: {label}\n\n")
        for (op, check), v in sorted(failures.items(), key=lambda kv: (not blocks(kv[0][1]), kv[0])):
            info, ex = v["info"], v["example"]
            tag = "BLOCKING" if blocks(check) else "non-blocking"
            out.write(f"## [{tag}] {op} — {check} ({info.get('code', '')} {info.get('title', '')}), "
                      f"{v['count']} case(s)\n\n")
            out.write(f"{info.get('message', '').strip()}\n\n")
            if ex:
                out.write(f"- request: `{ex['request']}` headers {json.dumps(ex['headers'])}\n")
                if ex["body"]:
                    out.write(f"- body: `{ex['body']}`\n")
                out.write(f"- response {ex['status']}: `{ex['response']}`\n\n")
        for op, ex in server_errors[:50]:
            if ex:
                out.write(f"## [BLOCKING] 5xx on {op}\n\n- request: `{ex['request']}`\n- body: `{ex['body']}`\n"
                          f"- response {ex['status']}: `{ex['response']}`\n\n")
        for e in errors:
            out.write(f"## [BLOCKING] schemathesis error\n\n```\n{e}\n```\n\n")

    unreached = sorted(REACHABLE - succeeded)
    token_failed = bool(unreached)
    failed = bool(blocking or server_errors or errors or token_failed or not per_operation)
    for (op, check), v in sorted(blocking.items()):
        print(f"api [{label}]: BLOCKING {check} on {op} ({v['count']} case(s))")
    for op, ex in server_errors[:10]:
        print(f"api [{label}]: BLOCKING 5xx on {op}: {ex['request'] if ex else ''}")
    for e in errors[:5]:
        print(f"api [{label}]: schemathesis error: {e.splitlines()[0] if e else ''}")
    if token_failed:
        print(f"api [{label}]: BLOCKING no 2xx on {', '.join(unreached)}: is the token under test sent and accepted?")
    if failures and not blocking:
        print(f"api [{label}]: the non-blocking findings above are listed in {findings_path} "
              "(AUTOPMO_HARNESS_API_STRICT=1 makes them block)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
