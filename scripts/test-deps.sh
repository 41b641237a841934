#!/usr/bin/env bash
# Installs the real components the tests run against, from the package
# registries, into a cache outside the clone (idempotent; fast when present):
#   - moto[server] (PyPI): an S3-compatible server for the audit archival tests.
#   - oidc-provider (npm): an OpenID Connect provider for the federation tests.
#   - aiosmtpd (PyPI): an SMTP server for the password-reset mail tests.
# A failure is reported, not fatal: the tests that need a missing component
# skip with a notice (or fail, where CI requires them).
set -uo pipefail

# oidc-provider (npm, pinned by tests/oidc-provider/package-lock.json): a real
# OpenID Connect provider for the federation tests, into
# tests/oidc-provider/node_modules (git-ignored).
oidc_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/oidc-provider"
if grep -qs '"version": "9.13.3"' "$oidc_dir/node_modules/oidc-provider/package.json"; then
    :
elif command -v npm >/dev/null 2>&1; then
    echo "==> installing oidc-provider 9.13.3 into $oidc_dir/node_modules (once)"
    (cd "$oidc_dir" && npm ci --no-audit --no-fund --loglevel=error) \
        || echo "test-deps: npm could not install oidc-provider; federation tests will be skipped" >&2
else
    echo "test-deps: npm not found; federation tests will be skipped" >&2
fi

venv="${AUTOPMO_TEST_VENV:-$HOME/.cache/autopmo/venv}"
moto_version="5.2.5"
aiosmtpd_version="1.4.6"

have_moto() {
    [ -x "$venv/bin/moto_server" ] &&
        "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$moto_version')" 2>/dev/null
}
have_aiosmtpd() {
    "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$aiosmtpd_version')" 2>/dev/null
}

if have_moto && have_aiosmtpd; then
    exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "test-deps: python3 not found; S3 and SMTP tests will be skipped" >&2
    exit 0
fi
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || { echo "test-deps: cannot create $venv" >&2; exit 0; }
fi
if ! have_moto; then
    echo "==> installing moto[server]==$moto_version into $venv (once)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$moto_version" \
        || echo "test-deps: pip could not install moto; S3 tests will be skipped" >&2
fi
if ! have_aiosmtpd; then
    echo "==> installing aiosmtpd==$aiosmtpd_version into $venv (once)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$aiosmtpd_version" \
        || echo "test-deps: pip could not install aiosmtpd; SMTP tests will be skipped" >&2
fi
exit 0
