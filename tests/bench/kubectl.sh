#!/usr/bin/env bash
# Benchmark: a cached `kubectl-entra` run (what kubectl execs before its API requests), with
# KUBERNETES_EXEC_INFO set as kubectl sets it, against `git credential-store get` as the
# baseline (a tiny helper that reads one file and prints).
#
#   tests/bench/kubectl.sh                # debug build (default; no release build needed)
#   PROFILE=release tests/bench/kubectl.sh
#   RUNS=500 tests/bench/kubectl.sh
#
# Everything runs against the loopback emulator in a temp dir; nothing outside it is touched.
# Needs: cargo, git, hyperfine, curl.
set -euo pipefail

cd "$(dirname "$0")/../.."
PROFILE=${PROFILE:-debug}
RUNS=${RUNS:-300}

if [ "$PROFILE" = release ]; then
    cargo build -q --release -p kubectl-entra -p entra-cred -p entra-emulator
else
    cargo build -q -p kubectl-entra -p entra-cred -p entra-emulator
fi
BIN="$PWD/target/$PROFILE"

work=$(mktemp -d "${TMPDIR:-/tmp}/entra-bench-kubectl.XXXXXX")
emu_pid=""
cleanup() {
    if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The emulator prints one JSON line of service URLs, then serves until killed.
"$BIN/entra-emulator" >"$work/urls.json" 2>"$work/emulator.log" &
emu_pid=$!
for _ in $(seq 100); do
    [ -s "$work/urls.json" ] && break
    sleep 0.05
done
entra=$(grep -o '"entra":"[^"]*"' "$work/urls.json" | cut -d'"' -f4)
[ -n "$entra" ] || { echo "emulator did not start" >&2; cat "$work/emulator.log" >&2; exit 1; }

export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_CACHE_HOME="$work/home/.cache"
export ENTRA_CRED_CACHE_DIR="$work/cache" ENTRA_CRED_CONFIG="$work/config.toml"
export ENTRA_CRED_KEYRING=file AZURE_AUTHORITY_HOST="$entra"
mkdir -p "$HOME"

# Sign in once (device code; the emulator approves on the second poll), then fetch the AKS
# token once so that every measured run is a cache hit.
"$BIN/entra-cred" login </dev/null 2>"$work/login.log"
export KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}'
"$BIN/kubectl-entra" >/dev/null

# Baseline: git's plain-file credential helper answering a `get`.
printf 'https://user:secret@example.com\n' >"$work/git-credentials"
printf 'protocol=https\nhost=example.com\n\n' >"$work/git-get"

tokens_before=$(curl -s "$entra/_emulator/stats" | grep -o '"Token":[0-9]*' | cut -d: -f2)

# 1) Through a shell (hyperfine subtracts its start-up), so git gets its real `get` on stdin.
hyperfine --warmup 20 --runs "$RUNS" --export-json "$work/shell.json" \
    -n "git credential-store get" "git credential-store --file $work/git-credentials get <$work/git-get" \
    -n "kubectl-entra (cached, $PROFILE)" "$BIN/kubectl-entra"
# 2) Without a shell (-N: more precise below 5 ms; git then reads an empty request from
#    /dev/null, i.e. start-up plus reading its file).
hyperfine -N --warmup 20 --runs "$RUNS" --export-json "$work/noshell.json" \
    -n "git credential-store get (-N)" "git credential-store --file $work/git-credentials get" \
    -n "kubectl-entra (cached, $PROFILE, -N)" "$BIN/kubectl-entra"

tokens_after=$(curl -s "$entra/_emulator/stats" | grep -o '"Token":[0-9]*' | cut -d: -f2)
echo
echo "median / mean / min (ms):"
for f in "$work/shell.json" "$work/noshell.json"; do
    python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("  %-42s %6.2f / %6.2f / %6.2f" % (r["command"], r["median"]*1e3, r["mean"]*1e3, r["min"]*1e3))' "$f"
done
echo "token requests during the benchmark: $((tokens_after - tokens_before)) (every run was a cache hit when 0)"
[ "$tokens_after" = "$tokens_before" ]
