#!/usr/bin/env bash
# The bench runner (bench/README.md): builds the release binaries, installs
# what the bench needs when missing (wrk from Debian; the peer's FastAPI stack
# from PyPI into a virtual environment), runs everything — the limits, the
# peer, AutoPMO on SQLite and on PostgreSQL — and writes the table of medians
# into docs/benchmarks.md.
#
#   scripts/bench.sh            full: 1,000 users … 1,000,000 audit events,
#                               3 repetitions of 10 s loads (~20 min, plus
#                               ~5 min to seed the first time)
#   scripts/bench.sh --quick    about 5 minutes: 1/10-scale data, one
#                               repetition of 5 s loads
#   scripts/bench.sh [--quick] [more `autopmo-bench run` options, e.g.
#                               --reps 5 --seconds 20 --scale 1 --no-postgres --reseed]
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/autopmo/target),
# AUTOPMO_BENCH_DIR (seeds, working copies, logs, raw results; default
# ~/.cache/autopmo/bench), AUTOPMO_BENCH_VENV (default
# ~/.cache/autopmo/bench-venv), AUTOPMO_BENCH_POSTGRES_URL (an account that
# may create databases; default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail

cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/autopmo/target}"
work="${AUTOPMO_BENCH_DIR:-$HOME/.cache/autopmo/bench}"
venv="${AUTOPMO_BENCH_VENV:-$HOME/.cache/autopmo/bench-venv}"
pg_admin="${AUTOPMO_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
extra=()

die() {
    echo "bench: $*" >&2
    exit 1
}

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && sudo_cmd=(sudo)
fi

# The load generator: wrk, from the distribution's package registry.
if ! command -v wrk >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "wrk is missing and there is no apt-get to install it"
    echo "==> installing wrk (apt-get)"
    "${sudo_cmd[@]}" apt-get install -y wrk >/dev/null ||
        { "${sudo_cmd[@]}" apt-get update >/dev/null && "${sudo_cmd[@]}" apt-get install -y wrk >/dev/null; } ||
        die "apt-get could not install wrk"
fi

# Pinning: servers on core 0, wrk on core 1 (taskset, util-linux).
cores=$(nproc 2>/dev/null || echo 1)
pin=()
if [ "$cores" -lt 2 ] || ! command -v taskset >/dev/null 2>&1; then
    echo "bench: fewer than 2 cores or no taskset: running unpinned, server and load share the machine" >&2
    extra+=(--no-pin)
else
    # The runner itself waits on the load generator's core.
    pin=(taskset -c 1)
fi

# The peer (the guide's stack) in a virtual environment, from PyPI, pinned.
have_peer() {
    "$venv/bin/python" - <<'EOF' 2>/dev/null
import sys
import argon2, fastapi, jwt, uvicorn
sys.exit(not (fastapi.__version__ == "0.165.0" and uvicorn.__version__ == "0.55.0" and jwt.__version__ == "2.15.1"))
EOF
}
if ! have_peer; then
    if command -v python3 >/dev/null 2>&1; then
        echo "==> installing the peer (FastAPI, uvicorn, PyJWT, argon2-cffi) into $venv"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "cannot create the virtual environment $venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/peer/requirements.txt ||
            die "pip could not install bench/peer/requirements.txt"
    else
        echo "bench: no python3: the peer is skipped" >&2
    fi
fi
python_arg=()
have_peer && python_arg=(--python "$venv/bin/python")

# PostgreSQL on 127.0.0.1:5432 (started like .ci/run does when a local cluster exists).
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || timeout 3 bash -c ': </dev/tcp/127.0.0.1/5432' 2>/dev/null; }
if [ -z "${AUTOPMO_BENCH_POSTGRES_URL:-}" ] && ! pg_up; then
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    if [ -n "$version" ]; then
        echo "==> starting PostgreSQL $version/main"
        "${sudo_cmd[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 30); do pg_up && break; sleep 1; done
    fi
    if ! pg_up; then
        echo "bench: no PostgreSQL on 127.0.0.1:5432: the PostgreSQL half is skipped" >&2
        extra+=(--no-postgres)
    fi
fi

# The table goes to docs/benchmarks.md unless --out says otherwise.
out_arg=(--out docs/benchmarks.md)
for arg in "$@"; do
    case "$arg" in --out | --out=*) out_arg=() ;; esac
done

locked=()
[ -f Cargo.lock ] && locked=(--locked)
echo "==> cargo build --release -p autopmo -p autopmo-bench"
cargo build --release "${locked[@]}" -p autopmo -p autopmo-bench

mkdir -p "$work"
echo "==> autopmo-bench run (work directory $work; load average $(cut -d' ' -f1-3 /proc/loadavg))"
exec "${pin[@]}" "$CARGO_TARGET_DIR/release/autopmo-bench" run \
    --autopmo "$CARGO_TARGET_DIR/release/autopmo" \
    --peer-dir bench/peer \
    --work-dir "$work" \
    --pg-admin "$pg_admin" \
    "${out_arg[@]}" "${python_arg[@]}" "${extra[@]}" "$@"
