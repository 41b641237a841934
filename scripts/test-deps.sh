#!/usr/bin/env bash
# Installs the real components the tests run against, from the package
# registries, into a cache outside the clone (idempotent; fast when present):
#   - moto[server] (PyPI): an S3-compatible server for the audit archival tests.
# A failure is reported, not fatal: the tests that need a missing component
# skip with a notice (or fail, where CI requires them).
set -uo pipefail

venv="${AUTOPMO_TEST_VENV:-$HOME/.cache/autopmo/venv}"
moto_version="5.2.5"

if [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null; then
    exit 0
fi
echo "==> installing moto[server]==$moto_version into $venv (once)"
if ! command -v python3 >/dev/null 2>&1; then
    echo "test-deps: python3 not found; S3 tests will be skipped" >&2
    exit 0
fi
python3 -m venv "$venv" || { echo "test-deps: cannot create $venv" >&2; exit 0; }
"$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version" \
    || echo "test-deps: pip could not install moto; S3 tests will be skipped" >&2
exit 0
