#!/usr/bin/env bash
# The reliability harness: crash durability, API fuzzing, fuzz targets, load.
#
#   scripts/harness.sh [--ci] [crash] [api] [fuzz] [load]
#
# Without part names, all four run. Without --ci it is the long run; --ci is
# the part of it that CI (.ci/run) can afford (about 8 minutes warm on two
# cores):
#
#   part   what                                             --ci                 long (default)
#   crash  SIGKILL `autopmo serve` during concurrent         20 kills/backend     50 kills/backend
#          audited writes (tests/cli/crash.rs), SQLite
#          and PostgreSQL: no acknowledged write or audit
#          event lost, chain and checkpoints verify,
#          integrity check passes
#   api    schemathesis against /api/v1/openapi.json,        SQLite               SQLite + PostgreSQL
#          all default checks, as system_admin and as        100 examples/op      200 examples/op
#          project_manager (personal API tokens): no 5xx,
#          no response outside the document (body, status,
#          content type, headers), every other check but
#          positive_data_acceptance (harness/api/summarize.py)
#   fuzz   cargo fuzz targets (fuzz/): tokens, policy        20 s per target      60 s per target
#          YAML and conditions, domain validators, MFA
#   load   1,000 concurrent connections of mixed traffic     SQLite, 60 s         SQLite + PostgreSQL, 60 s
#          (harness/, autopmo-load): no 5xx, every
#          request's audit event, `autopmo audit verify`,
#          RSS sampled from /proc below a limit
#
# Prints a summary line per part and exits non-zero if any part failed.
# Knobs (environment): AUTOPMO_HARNESS_CRASH_ROUNDS, AUTOPMO_HARNESS_API_EXAMPLES,
# AUTOPMO_HARNESS_API_STRICT=1 (positive_data_acceptance blocks too),
# AUTOPMO_HARNESS_SEED (schemathesis; 1 with --ci, random otherwise),
# AUTOPMO_HARNESS_FUZZ_SECS, AUTOPMO_HARNESS_LOAD_SECS,
# AUTOPMO_HARNESS_LOAD_CONNECTIONS, AUTOPMO_HARNESS_MAX_RSS_MIB (default 512),
# AUTOPMO_HARNESS_BACKENDS ("sqlite postgres"), AUTOPMO_HARNESS_RELEASE=1
# (test a release build of the server instead of the debug one),
# AUTOPMO_HARNESS_OUT (where logs and reports go; default a new directory
# under $TMPDIR or /tmp). PostgreSQL: AUTOPMO_TEST_POSTGRES_URL, else
# 127.0.0.1:5432 as user postgres; it is required (the crash part runs on
# both backends).
#
# Installs what it needs into ~/.cache/autopmo (idempotent): schemathesis
# 4.32.5 in a venv (from PyPI), cargo-fuzz 0.13.2 (from crates.io), and the
# nightly toolchain (rustup) if missing.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
# The summary goes to the caller's stdout even when `set -e` stops the script
# inside a command whose output is redirected.
exec 3>&1
start=$SECONDS

ci=0
parts=()
for arg in "$@"; do
    case "$arg" in
        --ci) ci=1 ;;
        crash | api | fuzz | load) parts+=("$arg") ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "harness: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done
[ ${#parts[@]} -gt 0 ] || parts=(crash api fuzz load)

if [ "$ci" = 1 ]; then
    crash_rounds=${AUTOPMO_HARNESS_CRASH_ROUNDS:-20}
    api_examples=${AUTOPMO_HARNESS_API_EXAMPLES:-100}
    fuzz_secs=${AUTOPMO_HARNESS_FUZZ_SECS:-20}
    load_secs=${AUTOPMO_HARNESS_LOAD_SECS:-60}
    backends=${AUTOPMO_HARNESS_BACKENDS:-sqlite}
else
    crash_rounds=${AUTOPMO_HARNESS_CRASH_ROUNDS:-50}
    api_examples=${AUTOPMO_HARNESS_API_EXAMPLES:-200}
    fuzz_secs=${AUTOPMO_HARNESS_FUZZ_SECS:-60}
    load_secs=${AUTOPMO_HARNESS_LOAD_SECS:-60}
    backends=${AUTOPMO_HARNESS_BACKENDS:-sqlite postgres}
fi
load_connections=${AUTOPMO_HARNESS_LOAD_CONNECTIONS:-1000}
max_rss_mib=${AUTOPMO_HARNESS_MAX_RSS_MIB:-512}

cache="$HOME/.cache/autopmo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
out="${AUTOPMO_HARNESS_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/autopmo-harness.XXXXXX")}"
mkdir -p "$out"
echo "harness: $([ "$ci" = 1 ] && echo CI-sized || echo long) run of: ${parts[*]}; logs and reports in $out"

summary=()
failed=0
current="setup"
summarized=0
note() { summary+=("$*"); }
pass() { note "PASS  $*"; }
fail() { note "FAIL  $*"; failed=1; }
section() { echo; echo "==> harness: $* ($((SECONDS - start)) s elapsed)"; }

# ---------------------------------------------------------------- servers

# Servers this script started (their pids), stopped on exit.
servers=()
print_summary() {
    summarized=1
    {
        echo
        echo "==> harness summary ($((SECONDS - start)) s; logs and reports in $out)"
        printf '  %s\n' "${summary[@]}"
    } >&3
}
cleanup() {
    local rc=$?
    if [ "$summarized" = 0 ]; then
        note "FAIL  $current: stopped by an unexpected error (exit status $rc)"
        print_summary
    fi
    for pid in "${servers[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    for db in "${pg_databases[@]}"; do
        psql "$pg_admin" -qAtc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
}
pg_databases=()
trap cleanup EXIT

pg_admin="${AUTOPMO_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_ready() {
    psql "$pg_admin" -qAtc 'SELECT 1' >/dev/null 2>&1
}

# A fresh database for `backend` (sqlite or postgres): prints its URL.
# SQLite lives in the data directory (the server's default) when empty.
fresh_database() {
    local backend=$1 name
    if [ "$backend" = sqlite ]; then
        echo ""
        return
    fi
    name="autopmo_harness_$$_${RANDOM}${RANDOM}"
    psql "$pg_admin" -v ON_ERROR_STOP=1 -qAtc "CREATE DATABASE \"$name\"" >/dev/null
    pg_databases+=("$name")
    printf '%s\n' "${pg_admin%/*}/$name"
}

if [ "${AUTOPMO_HARNESS_RELEASE:-0}" = 1 ]; then
    profile=release
else
    profile=debug
fi
autopmo="$CARGO_TARGET_DIR/$profile/autopmo"

# The environment of the instance in directory $1 (data in $1/data; the
# database URL in $1/database_url, empty for SQLite), with no other AUTOPMO_*
# setting of the caller's: sets the array `ienv` (arguments for env).
instance_env() {
    local dir=$1 url v
    url=$(cat "$dir/database_url")
    ienv=()
    for v in $(compgen -e); do
        case "$v" in AUTOPMO_*) ienv+=(-u "$v") ;; esac
    done
    ienv+=(AUTOPMO_DATA_DIR="$dir/data" AUTOPMO_LOG__LEVEL=warn)
    if [ -n "$url" ]; then
        ienv+=(AUTOPMO_DATABASE_URL="$url")
    fi
}

# Runs the autopmo binary for the instance in directory $1.
cli() {
    local dir=$1
    shift
    instance_env "$dir"
    env "${ienv[@]}" "$autopmo" "$@"
}

# Starts `autopmo serve` for a new instance in directory $1 on backend $2;
# sets server_pid (the server process itself) and server_base.
start_server() {
    local dir=$1 backend=$2
    mkdir -p "$dir"
    fresh_database "$backend" >"$dir/database_url"
    : >"$dir/serve.log"
    instance_env "$dir"
    (exec env "${ienv[@]}" AUTOPMO_LISTEN=127.0.0.1:0 "$autopmo" serve) </dev/null >>"$dir/serve.log" 2>&1 &
    server_pid=$!
    servers+=("$server_pid")
    server_base=""
    for _ in $(seq 1 300); do
        server_base=$(sed -n 's/^AutoPMO listening on \(http:[^ ]*\).*/\1/p' "$dir/serve.log" | head -n 1)
        [ -n "$server_base" ] && break
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    if [ -z "$server_base" ]; then
        tail -n 20 "$dir/serve.log" >&2
        echo "harness: the server in $dir did not start" >&2
        return 1
    fi
}

# Whether process $1 is alive (a zombie is not).
alive() {
    [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Stops the server started last, gracefully (SIGTERM; SIGKILL after 30 s).
stop_server() {
    local pid=$server_pid
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
        alive "$pid" || break
        sleep 0.1
    done
    if alive "$pid"; then
        echo "harness: the server (pid $pid) did not stop within 30 s of SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Creates a user (login $2, role $3) in instance $1 with a random password
# (never used: the harness works with API tokens); prints its id.
make_user() {
    printf 'Reliability %s 7Qx\n' "$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')" |
        cli "$1" user create --username "$2" --email "$2@harness.example.org" --role "$3" --password-stdin \
            2>>"$1/cli.log" || { tail -n 5 "$1/cli.log" >&2; return 1; }
}

# Issues a personal API token for login $2 in instance $1; prints it.
make_token() {
    cli "$1" token create --user "$2" --name harness --expires-days 1 2>>"$1/cli.log" ||
        { tail -n 5 "$1/cli.log" >&2; return 1; }
}

build_server() {
    section "build: autopmo ($profile)"
    if [ "$profile" = release ]; then
        cargo build --release --bin autopmo
    else
        cargo build --bin autopmo
    fi
}

# ---------------------------------------------------------------- tools

st_version=4.32.5
st_venv="$cache/schemathesis-venv"

# schemathesis in its own venv, with the newest python3 there is. It runs
# with one worker: with two threads, CPython 3.11's AST constructor can fail
# with "AST constructor recursion depth mismatch" (its recursion counter is
# shared between threads), and the operation is left untested.
ensure_schemathesis() {
    if "$st_venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$st_version"; then
        return 0
    fi
    local py=""
    for candidate in python3.13 python3.12 python3; do
        if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 10))' >/dev/null 2>&1; then
            py=$candidate
            break
        fi
    done
    [ -n "$py" ] || { echo "harness: no python3 (3.10 or newer) to install schemathesis with" >&2; return 1; }
    echo "harness: installing schemathesis==$st_version into $st_venv (with $($py --version))"
    rm -rf "$st_venv"
    "$py" -m venv "$st_venv"
    "$st_venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$st_version"
}

cargo_fuzz_version=0.13.2
tools="$cache/tools"

# The nightly toolchain and cargo-fuzz (into ~/.cache/autopmo/tools).
ensure_cargo_fuzz() {
    export PATH="$tools/bin:$PATH"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        echo "harness: installing the nightly toolchain (cargo fuzz needs it)"
        rustup toolchain install nightly --profile minimal
    fi
    if ! cargo fuzz --version 2>/dev/null | grep -qF "$cargo_fuzz_version"; then
        echo "harness: installing cargo-fuzz $cargo_fuzz_version into $tools (once, about a minute)"
        # Its own build directory: the shared target directory may be busy.
        CARGO_TARGET_DIR="$cache/tools-build" cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked --root "$tools"
        rm -rf "$cache/tools-build"
    fi
}

# ---------------------------------------------------------------- crash

part_crash() {
    section "crash: SIGKILL during audited writes, $crash_rounds rounds per backend"
    if ! pg_ready; then
        fail "crash: PostgreSQL is not reachable at $pg_admin (both backends are required)"
        return
    fi
    local log="$out/crash.log" t0=$SECONDS
    # --workspace: the same features as scripts/test.sh's build, so that its
    # test binaries are reused rather than built again.
    if AUTOPMO_TEST_CRASH_ROUNDS=$crash_rounds AUTOPMO_TEST_POSTGRES_URL=$pg_admin AUTOPMO_TEST_REQUIRE_POSTGRES=1 \
        cargo test --workspace --test cli crash:: -- --nocapture --test-threads 1 >"$log" 2>&1; then
        local ok=1
    else
        local ok=0
    fi
    grep -E "^test crash::|acknowledged over|audit chain intact|panicked|test result" "$log" | sed 's/^/  /' || true
    if [ "$ok" = 1 ] && grep -q 'test result: ok. 2 passed' "$log"; then
        pass "crash: $crash_rounds SIGKILLs on SQLite and on PostgreSQL; nothing acknowledged was lost, chains verify ($((SECONDS - t0)) s)"
    else
        fail "crash: see $log ($((SECONDS - t0)) s)"
    fi
}

# ---------------------------------------------------------------- api

# One schemathesis run: backend $1, role of the user under test $2.
api_run() {
    local backend=$1 role=$2 dir="$out/api/$1-$2" t0=$SECONDS
    mkdir -p "$dir"
    start_server "$dir" "$backend" || { fail "api [$backend, $role]: the server did not start"; return; }
    make_user "$dir" harness-actor "$role" >/dev/null
    make_user "$dir" harness-admin system_admin >/dev/null
    make_user "$dir" harness-pm project_manager >/dev/null
    local dev1 dev2 actor admin pm
    dev1=$(make_user "$dir" harness-dev1 developer)
    dev2=$(make_user "$dir" harness-dev2 developer)
    actor=$(make_token "$dir" harness-actor)
    admin=$(make_token "$dir" harness-admin)
    pm=$(make_token "$dir" harness-pm)
    printf '{"actor": "%s", "admin": "%s", "pm": "%s", "dev": ["%s", "%s"]}\n' \
        "$actor" "$admin" "$pm" "$dev1" "$dev2" >"$dir/tokens.json"
    if ! "$st_venv/bin/python" "$root/harness/api/seed.py" "$server_base" "$dir/tokens.json" "$dir/schemathesis.toml"; then
        fail "api [$backend, $role]: seeding the fixtures failed"
        stop_server
        return
    fi
    local seed=${AUTOPMO_HARNESS_SEED:-$([ "$ci" = 1 ] && echo 1 || echo $RANDOM)}
    echo "  schemathesis $st_version against $server_base/api/v1/openapi.json as $role ($backend), $api_examples examples per operation, seed $seed"
    (
        cd "$dir"
        HARNESS_API_TOKEN=$actor "$st_venv/bin/schemathesis" --config-file "$dir/schemathesis.toml" run \
            "$server_base/api/v1/openapi.json" --max-examples "$api_examples" --continue-on-failure \
            --seed "$seed" --workers 1 --no-color --report ndjson,junit --report-dir "$dir/report" \
            --generation-database none >"$dir/schemathesis.log" 2>&1
    ) || true
    stop_server
    local report
    report=$(ls "$dir"/report/*.ndjson 2>/dev/null | head -n 1)
    if [ -z "$report" ]; then
        tail -n 30 "$dir/schemathesis.log" >&2
        fail "api [$backend, $role]: schemathesis wrote no report (see $dir/schemathesis.log)"
        return
    fi
    if "$st_venv/bin/python" "$root/harness/api/summarize.py" "$report" "$dir/findings.md" "$backend, $role" \
        | tee "$dir/summary.txt" | sed 's/^/  /'; then
        pass "api [$backend, $role]: no 5xx, no response outside the document, no blocking check failed ($((SECONDS - t0)) s; findings: $dir/findings.md)"
    else
        fail "api [$backend, $role]: blocking findings in $dir/findings.md ($((SECONDS - t0)) s)"
    fi
}

part_api() {
    section "api: schemathesis, $api_examples examples per operation, backends: $backends"
    ensure_schemathesis || { fail "api: schemathesis could not be installed"; return; }
    for backend in $backends; do
        if [ "$backend" = postgres ] && ! pg_ready; then
            fail "api [postgres]: PostgreSQL is not reachable at $pg_admin"
            continue
        fi
        for role in system_admin project_manager; do
            api_run "$backend" "$role"
        done
    done
}

# ---------------------------------------------------------------- fuzz

part_fuzz() {
    section "fuzz: cargo fuzz, $fuzz_secs s per target"
    ensure_cargo_fuzz || { fail "fuzz: cargo-fuzz could not be installed"; return; }
    local fuzz_target="$cache/fuzz-target" t0=$SECONDS
    if ! (cd "$root/fuzz" && CARGO_TARGET_DIR="$fuzz_target" cargo +nightly fuzz build -O) >"$out/fuzz-build.log" 2>&1; then
        tail -n 40 "$out/fuzz-build.log" >&2
        fail "fuzz: the targets do not build (see $out/fuzz-build.log)"
        return
    fi
    echo "  built in $((SECONDS - t0)) s"
    local bin="$fuzz_target/x86_64-unknown-linux-gnu/release"
    local target
    for target in $(cd "$root/fuzz" && cargo +nightly fuzz list); do
        local corpus="$cache/fuzz-corpus/$target" art="$out/fuzz/$target" log="$out/fuzz/$target.log"
        mkdir -p "$corpus" "$art"
        if [ -d "$root/fuzz/seeds/$target" ]; then
            cp -n "$root/fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
        fi
        if "$bin/$target" "$corpus" -max_total_time="$fuzz_secs" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="$art/" -print_final_stats=1 >"$log" 2>&1; then
            local runs
            runs=$(sed -n 's/^Done \([0-9]*\) runs in \([0-9]*\) second.*/\1 runs in \2 s/p' "$log" | tail -n 1)
            local cov
            cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
            echo "  $target: $runs, $cov, no crash"
            pass "fuzz $target: $runs, no crash"
        else
            local unit
            unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
            grep -m 3 -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY' "$log" | sed 's/^/  /' || true
            grep -m 1 -A 3 'panicked at' "$log" | tail -n 3 | sed 's/^/    /' || true
            fail "fuzz $target: crashed; input $unit (reproduce: cd fuzz && cargo +nightly fuzz run $target $unit; log $log)"
        fi
    done
}

# ---------------------------------------------------------------- load

part_load() {
    section "load: $load_connections connections for $load_secs s, backends: $backends"
    local hard want=16384
    hard=$(ulimit -Hn)
    if [ "$hard" != unlimited ] && [ "$hard" -lt $((load_connections * 2 + 256)) ]; then
        fail "load: the open-files hard limit ($hard) is too low for $load_connections connections"
        return
    fi
    if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
        want=$hard
    fi
    ulimit -n "$want"
    echo "  open-files limit: $(ulimit -n)"
    if ! cargo build --release --locked --manifest-path "$root/harness/Cargo.toml" >"$out/load-build.log" 2>&1; then
        tail -n 30 "$out/load-build.log" >&2
        fail "load: the load client does not build (see $out/load-build.log)"
        return
    fi
    local client="$CARGO_TARGET_DIR/release/autopmo-load"
    for backend in $backends; do
        if [ "$backend" = postgres ] && ! pg_ready; then
            fail "load [postgres]: PostgreSQL is not reachable at $pg_admin"
            continue
        fi
        local dir="$out/load/$backend" t0=$SECONDS
        mkdir -p "$dir"
        start_server "$dir" "$backend" || { fail "load [$backend]: the server did not start"; continue; }
        make_user "$dir" harness-admin system_admin >/dev/null
        make_user "$dir" harness-pm project_manager >/dev/null
        local ok=1
        HARNESS_LOAD_TOKEN=$(make_token "$dir" harness-pm) HARNESS_LOAD_AUDIT_TOKEN=$(make_token "$dir" harness-admin) \
            "$client" --base "$server_base" --connections "$load_connections" --duration-secs "$load_secs" \
            --server-pid "$server_pid" --max-rss-mib "$max_rss_mib" --report "$dir/report.json" \
            >"$dir/load.log" 2>"$dir/load.err" || ok=0
        sed 's/^/  /' "$dir/load.log"
        if [ "$ok" = 0 ] && [ ! -s "$dir/load.log" ]; then
            tail -n 20 "$dir/load.err" | sed 's/^/  /'
        fi
        stop_server
        if cli "$dir" audit verify >"$dir/verify.log" 2>&1; then
            echo "  $(grep -m 1 'audit chain' "$dir/verify.log")"
        else
            ok=0
            sed 's/^/  /' "$dir/verify.log"
        fi
        if [ "$ok" = 1 ]; then
            pass "load [$backend]: $load_connections connections × $load_secs s: no 5xx, every audit event, chain verifies ($((SECONDS - t0)) s)"
        else
            fail "load [$backend]: see $dir/load.log, $dir/load.err and $dir/verify.log ($((SECONDS - t0)) s)"
        fi
    done
}

# ---------------------------------------------------------------- run

need_server=0
for p in "${parts[@]}"; do
    case "$p" in api | load) need_server=1 ;; esac
done
if [ "$need_server" = 1 ]; then
    build_server
fi
trap 'echo "harness: a command failed in part $current (line $LINENO)" >&2' ERR
for p in "${parts[@]}"; do
    current=$p
    "part_$p"
done
current="summary"
print_summary
if [ "$failed" != 0 ]; then
    echo "harness: FAILED" >&2
    exit 1
fi
echo "harness: all parts passed"
