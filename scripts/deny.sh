#!/usr/bin/env bash
# Offline dependency audit: cargo-deny (advisories, licenses, bans, sources)
# against the RustSec advisory-db snapshot kept beside the repo.
#
#   scripts/deny.sh [cargo deny check args, e.g. `advisories` or `licenses`]
#
# Environment:
#   AUTOPMO_ADVISORY_DB_SRC  snapshot to use (default: <repo>/../shared/advisory-db)
#   AUTOPMO_ADVISORY_DB_DIR  where cargo-deny's database copy lives
#                            (default: $HOME/.cache/autopmo/advisory-dbs)
#
# cargo-deny keeps each advisory database as a git repository at
# <db-path>/advisory-db-<hash of its URL>; for the default RustSec URL that is
# advisory-db-3157b0e258782691. The snapshot is a plain directory, so it is
# copied there and committed into a throwaway git repository. deny.toml reads
# the db-path from $AUTOPMO_ADVISORY_DB_DIR, which this script exports.
set -euo pipefail

CARGO_DENY_VERSION=0.20.2
DB_FOLDER=advisory-db-3157b0e258782691

here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))
cd "$root"

die() { echo "deny.sh: error: $*" >&2; exit 1; }

# 1. cargo-deny itself.
if ! cargo deny --version >/dev/null 2>&1; then
    echo "cargo-deny not found: installing cargo-deny $CARGO_DENY_VERSION from crates.io (takes ~6 min)"
    # Build in cargo's own temporary directory, not in the project's target dir.
    env -u CARGO_TARGET_DIR cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
fi
have=$(cargo deny --version)
case "$have" in
    *" $CARGO_DENY_VERSION"*) ;;
    *) echo "deny.sh: warning: found '$have'; deny.toml is written for cargo-deny $CARGO_DENY_VERSION" >&2 ;;
esac

# 2. The advisory database, as a git repository where cargo-deny expects it.
src=${AUTOPMO_ADVISORY_DB_SRC:-$root/../shared/advisory-db}
[ -d "$src/crates" ] ||
    die "no RustSec advisory-db snapshot at '$src' (expected crates/, rust/, README.md).
  Put one there, or point AUTOPMO_ADVISORY_DB_SRC at a copy of the RustSec advisory-db repository."
src=$(cd "$src" && pwd)

db_dir=${AUTOPMO_ADVISORY_DB_DIR:-$HOME/.cache/autopmo/advisory-dbs}
mkdir -p "$db_dir"
db_dir=$(cd "$db_dir" && pwd)
export AUTOPMO_ADVISORY_DB_DIR="$db_dir"
dest="$db_dir/$DB_FOLDER"

# Identify the snapshot: its SNAPSHOT.txt if it has one, else a listing of its files.
if [ -f "$src/SNAPSHOT.txt" ]; then
    fingerprint=$(cat "$src/SNAPSHOT.txt")
else
    fingerprint=$(cd "$src" && find . -type f -printf '%p %s %T@\n' | LC_ALL=C sort | sha256sum)
fi
stamp="$dest/.git/autopmo-snapshot"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$fingerprint" ] &&
    git -C "$dest" rev-parse -q --verify HEAD >/dev/null 2>&1; then
    echo "advisory db: up to date ($dest)"
else
    echo "advisory db: copying snapshot from $src"
    tmp=$(mktemp -d "$db_dir/.import.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    chmod 755 "$tmp"
    cp -R "$src/." "$tmp/"
    chmod -R u+w "$tmp" # the snapshot is read-only; the copy must be replaceable
    rm -rf "$tmp/.git"
    git -C "$tmp" init -q
    git -C "$tmp" add -A
    git -C "$tmp" -c user.name=ci -c user.email=ci@localhost -c commit.gpgsign=false \
        commit -q -m snapshot
    printf '%s' "$fingerprint" >"$tmp/.git/autopmo-snapshot"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    trap - EXIT
    echo "advisory db: $(head -n 1 "$dest/SNAPSHOT.txt" 2>/dev/null || git -C "$dest" log -1 --format=%cd)"
fi

# The copy is committed today, so cargo-deny's own staleness check (90 days)
# always passes; say how old the snapshot really is.
snap_date=$(grep -Eo '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$dest/SNAPSHOT.txt" 2>/dev/null | head -n 1 || true)
if [ -n "$snap_date" ] && snap_secs=$(date -d "$snap_date" +%s 2>/dev/null); then
    age_days=$((($(date +%s) - snap_secs) / 86400))
    if [ "$age_days" -gt 90 ]; then
        echo "deny.sh: warning: the advisory-db snapshot is $age_days days old ($snap_date); advisories published since then are not checked" >&2
    fi
fi

# 3. The audit. Crate sources must be present for the license check.
locked=()
if [ -f Cargo.lock ]; then locked=(--locked); fi
echo "cargo fetch (crate sources for the license check)"
cargo fetch "${locked[@]}"

echo "cargo deny --offline check (db-path: $AUTOPMO_ADVISORY_DB_DIR)"
exec cargo deny --offline "${locked[@]}" --config deny.toml check "$@"
