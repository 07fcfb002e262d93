#!/usr/bin/env bash
# Time to a clear failure: for each failure mode of SPEC.md "Failures" (issue 13), the median
# wall time from starting the helper to its exit with one error line, over RUNS runs (default 5).
# Prints a Markdown table (mode, command, exit code, median, min, max, the error line).
#
#   tests/bench/failures.sh                # release binaries (built first)
#   PROFILE=dev tests/bench/failures.sh    # debug binaries (these times are waits, not CPU)
#   RUNS=9 BUDGET=5 tests/bench/failures.sh
#
# Everything runs against the loopback emulator; the "no such host" is an RFC 6761 `.invalid`
# name (answered by the local resolver), the "untrusted certificate" is the emulator's
# Kubernetes listener (its CA is not in any trust store), the hanging keyring is a Unix socket
# that accepts and never answers, set as DBUS_SESSION_BUS_ADDRESS. Needs python3 and curl;
# kubectl for the kubectl row.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${PROFILE:-release}
case $profile in dev | test) dir=debug ;; *) dir=$profile ;; esac
runs=${RUNS:-5}
budget=${BUDGET:-5}
for t in python3 curl; do
  command -v "$t" >/dev/null || { echo "failures.sh: $t is needed" >&2; exit 1; }
done

cargo build --quiet --profile "$profile" --manifest-path "$root/Cargo.toml" --workspace --bins
bin=${CARGO_TARGET_DIR:-$root/target}/$dir

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

APP=bench-app
APP_SECRET=bench-secret
"$bin/entra-emulator" --refresh-token-grace 86400 --client "$APP:$APP_SECRET" >"$tmp/urls" 2>"$tmp/emu.err" &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/urls" ] && break; sleep 0.05; done
url() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$tmp/urls" "$1"; }
ENTRA=$(url entra)
IMDS=$(url imds)
KUBE=$(url kube)
REPOS=$(url repos)
ARM=https://management.azure.com/.default
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

# A Unix socket that accepts and never answers (a hung Secret Service).
python3 - "$tmp/bus" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1]); s.listen(64)
held = []
while True:
    c, _ = s.accept(); held.append(c)
EOF
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/bus" ] && break; sleep 0.05; done

export PATH="$bin:$PATH" HOME="$tmp/home" ENTRA_CRED_CACHE_DIR="$tmp/cache" \
  ENTRA_CRED_CONFIG="$tmp/config.toml" ENTRA_CRED_KEYRING=file ENTRA_CRED_HTTP_TIMEOUT="$budget" \
  AZURE_AUTHORITY_HOST="$ENTRA" AZURE_POD_IDENTITY_AUTHORITY_HOST="http://127.0.0.1:$closed" LANG=C
unset HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy DBUS_SESSION_BUS_ADDRESS
mkdir -p "$HOME"
entra-cred login </dev/null 2>"$tmp/login.err" || { cat "$tmp/login.err" >&2; exit 1; }

app=(env AZURE_CLIENT_ID="$APP" AZURE_CLIENT_SECRET="$APP_SECRET" AZURE_TENANT_ID=organizations)
printf 'protocol=http\nhost=%s\npath=org1/proj/_git/repo\n\n' "${REPOS#http://}" >"$tmp/git.in"
cat >"$tmp/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: aks
clusters:
- name: aks
  cluster:
    server: $KUBE
    insecure-skip-tls-verify: true
contexts:
- name: aks
  context: {cluster: aks, user: entra}
users:
- name: entra
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: kubectl-entra
      interactiveMode: Never
EOF

rows=()
# measure LABEL SETUP CMD... : RUNS runs of CMD (stdin from $STDIN or /dev/null), SETUP (a shell
# snippet) before each run; records exit code, median/min/max seconds and the last error line.
measure() {
  local label=$1 setup=$2
  shift 2
  local times=() code=0 err=""
  for _ in $(seq "$runs"); do
    eval "$setup"
    local t0 t1
    t0=$(date +%s%N)
    set +e
    "$@" <"${STDIN:-/dev/null}" >/dev/null 2>"$tmp/err"
    code=$?
    set -e
    t1=$(date +%s%N)
    times+=($(((t1 - t0) / 1000000)))
    err=$(grep -v '^\s*$' "$tmp/err" | tail -n 1 | cut -c1-160)
  done
  local stats
  stats=$(printf '%s\n' "${times[@]}" | python3 -c '
import statistics, sys
v = [int(x) for x in sys.stdin.read().split()]
print(f"{statistics.median(v)/1000:.2f} s | {min(v)/1000:.2f} s | {max(v)/1000:.2f} s")')
  rows+=("| $label | $code | $stats | ${err//|/\\|} |")
}

forget() { rm -rf "$ENTRA_CRED_CACHE_DIR/network" "$ENTRA_CRED_CACHE_DIR/keyring"; }

measure "no such host (DNS NXDOMAIN), app token" "forget" \
  "${app[@]}" AZURE_AUTHORITY_HOST=https://login.entra-emulator.invalid entra-cred token --scope "$ARM"
measure "untrusted TLS certificate, app token" "forget" \
  "${app[@]}" AZURE_AUTHORITY_HOST="$KUBE" entra-cred token --scope "$ARM"
measure "connection refused, first call (retried for the budget)" "forget" \
  "${app[@]}" AZURE_AUTHORITY_HOST="http://127.0.0.1:$closed" entra-cred token --scope "$ARM"
measure "connection refused, next call within 10 s (remembered)" "" \
  "${app[@]}" AZURE_AUTHORITY_HOST="http://127.0.0.1:$closed" entra-cred token --scope "$ARM"
measure "dead HTTPS_PROXY, first call (names the proxy)" "forget" \
  "${app[@]}" HTTPS_PROXY="http://127.0.0.1:$closed" AZURE_AUTHORITY_HOST=https://login.microsoftonline.com entra-cred token --scope "$ARM"
if command -v kubectl >/dev/null; then
  measure "kubectl get namespaces, Entra unreachable (all plugin calls)" "forget" \
    "${app[@]}" AZURE_AUTHORITY_HOST="http://127.0.0.1:$closed" KUBECONFIG="$tmp/kubeconfig" kubectl get namespaces --request-timeout=120s
fi
STDIN="$tmp/git.in" measure "git get, no sign-in, GIT_TERMINAL_PROMPT=0 (exit 3, no request)" "" \
  env ENTRA_CRED_CACHE_DIR="$tmp/empty-cache" GIT_TERMINAL_PROMPT=0 ENTRA_CRED_GIT_HOSTS="${REPOS#http://}" git-credential-entra get
measure "hanging keyring (Secret Service never answers): refresh" "forget" \
  env ENTRA_CRED_KEYRING=auto DBUS_SESSION_BUS_ADDRESS="unix:path=$tmp/bus" entra-cred refresh --scope "$ARM"
measure "Cloud Shell refuses the audience (AudienceNotSupported)" "" \
  env MSI_ENDPOINT="$IMDS/cloudshell/token" entra-cred token --scope api://not-served/.default
measure "ENTRA_CRED_PROFILE not UTF-8 (exit 2)" "" \
  env "ENTRA_CRED_PROFILE=$(printf 'w\377rk')" entra-cred token --scope "$ARM"

echo "Time to a clear failure ($profile build, ENTRA_CRED_HTTP_TIMEOUT=$budget, median of $runs runs; \`tests/bench/failures.sh\`):"
echo
echo "| failure | exit | median | min | max | the line on stderr |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
