#!/usr/bin/env bash
# The project's test command (named in the README; CI runs it too).
#
#   scripts/test.sh [extra args for cargo nextest run / cargo test]
#
# Uses cargo-nextest when installed (plus `cargo test --doc`, which nextest
# does not run), else plain `cargo test`. Installs the test components
# (scripts/test-deps.sh: moto for the S3 tests) into ~/.cache/autopmo first.
#
# PostgreSQL tests use AUTOPMO_TEST_POSTGRES_URL. When it is unset and a server
# answers on 127.0.0.1:5432, it defaults to postgres://postgres@127.0.0.1:5432/postgres;
# otherwise those tests are skipped (unless AUTOPMO_TEST_REQUIRE_POSTGRES=1,
# in which case they fail).
set -euo pipefail

cd "$(dirname "$0")/.."

pg_up() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432
    else
        # No client tools: at least check that something listens on the port.
        timeout 3 bash -c ': </dev/tcp/127.0.0.1/5432' 2>/dev/null
    fi
}

if [ -z "${AUTOPMO_TEST_POSTGRES_URL:-}" ]; then
    if pg_up; then
        export AUTOPMO_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:5432/postgres"
    else
        cat >&2 <<'EOF'
########################################################################
# PostgreSQL tests will be SKIPPED: no PostgreSQL at 127.0.0.1:5432.
# To run them, start PostgreSQL or set AUTOPMO_TEST_POSTGRES_URL=postgres://user@host:port/db
########################################################################
EOF
    fi
fi
if [ -n "${AUTOPMO_TEST_POSTGRES_URL:-}" ]; then
    # Print the URL without any password it may hold.
    echo "PostgreSQL tests use: $(printf '%s' "$AUTOPMO_TEST_POSTGRES_URL" | sed -E 's#://([^:/@]*):[^@]*@#://\1:***@#')"
fi

bash scripts/test-deps.sh

status=0
if cargo nextest --version >/dev/null 2>&1; then
    # Doctests first, so that nextest's summary is the run's closing line.
    echo "==> cargo test --workspace --doc"
    cargo test --workspace --doc || status=$?
    echo "==> cargo nextest run --workspace --no-fail-fast $*"
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
    echo "==> cargo test --workspace $* (cargo-nextest not installed)"
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi
exit "$status"
