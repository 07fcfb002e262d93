#!/usr/bin/env bash
# Cached `docker-credential-entra get` against `git credential-store get` (a helper that only
# reads a file) as the baseline, with hyperfine.
#
#   tests/bench/docker.sh                 # release build (cargo build --release)
#   PROFILE=debug tests/bench/docker.sh   # the debug build
#   RUNS=500 tests/bench/docker.sh
#
# Starts the emulator on loopback, warms the cache with one `get` (one Entra token, one ACR
# exchange), then times cached gets; at the end it checks that the timed runs made no request
# (the exchange count is still 1).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
profile="${PROFILE:-release}"
runs="${RUNS:-300}"
command -v hyperfine >/dev/null || { echo "hyperfine is not installed" >&2; exit 1; }

if [ "$profile" = release ]; then
  cargo build --release -q --manifest-path "$root/Cargo.toml" -p docker-credential-entra -p entra-emulator
else
  cargo build -q --manifest-path "$root/Cargo.toml" -p docker-credential-entra -p entra-emulator
fi
bin="${CARGO_TARGET_DIR:-$root/target}/$profile"

tmp="$(mktemp -d)"
emu_pid=""
cleanup() {
  if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/entra-emulator" --client bench-app:bench-secret >"$tmp/urls.json" 2>"$tmp/emu.err" &
emu_pid=$!
for _ in $(seq 100); do [ -s "$tmp/urls.json" ] && break; sleep 0.05; done
urls="$(head -n1 "$tmp/urls.json")"
url_of() { printf '%s' "$urls" | sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/"; }
entra="$(url_of entra)"
registry="$(url_of acr)"; registry="${registry#http://}"

export AZURE_AUTHORITY_HOST="$entra" AZURE_CLIENT_ID=bench-app AZURE_CLIENT_SECRET=bench-secret \
  AZURE_TENANT_ID=3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f ENTRA_CRED_ACR_HOSTS="$registry" \
  ENTRA_CRED_CACHE_DIR="$tmp/cache" ENTRA_CRED_CONFIG="$tmp/none.toml" ENTRA_CRED_KEYRING=file
unset ENTRA_CRED_PROFILE ENTRA_CRED_LOG || true

printf '%s' "$registry" >"$tmp/server"
"$bin/docker-credential-entra" get <"$tmp/server" >/dev/null   # warm: Entra token + exchange

printf 'protocol=https\nhost=example.com\nusername=u\npassword=p\n\n' \
  | git credential-store --file "$tmp/git-creds" store
printf 'protocol=https\nhost=example.com\n\n' >"$tmp/git-req"

hyperfine --warmup 20 --runs "$runs" \
  -n "git credential-store get (baseline)" "git credential-store --file $tmp/git-creds get < $tmp/git-req" \
  -n "docker-credential-entra get (cached, $profile)" "$bin/docker-credential-entra get < $tmp/server"

stats="$(curl -s "$entra/_emulator/stats")"
exchanges="$(printf '%s' "$stats" | sed -E 's/.*"AcrExchange":([0-9]+).*/\1/')"
echo "emulator: $stats"
if [ "$exchanges" != 1 ]; then
  echo "expected exactly 1 ACR exchange (the warm-up), saw $exchanges" >&2
  exit 1
fi
echo "ok: the timed runs made no request (1 exchange, from the warm-up)"
