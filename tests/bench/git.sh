#!/usr/bin/env bash
# A cached `git-credential-entra get` against `git credential-store --file F get`
# for the same host, measured in one hyperfine run (-N, --warmup 20, both reading
# the same git request from a file with --input).
#
#   tests/bench/git.sh                 # builds the release binaries first
#   PROFILE=dev tests/bench/git.sh     # debug binaries (numbers not representative)
#   HYPERFINE=/path/to/hyperfine tests/bench/git.sh   # hyperfine >= 1.16 (for --input)
#
# It starts the emulator binary on loopback, signs in with a client secret, warms the
# cache with one `get` (tenant from the request's wwwauth[], as git sends it after the
# server's 401), stores the same token in a credential-store file, then benchmarks.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${PROFILE:-release}
case $profile in dev | test) dir=debug ;; *) dir=$profile ;; esac
hf=${HYPERFINE:-hyperfine}
if ! "$hf" --help 2>/dev/null | grep -q -- '--input'; then
    echo "git.sh: '$hf' has no --input option: hyperfine >= 1.16 is needed (set HYPERFINE=...)" >&2
    exit 1
fi
for t in jq curl git; do
    command -v "$t" >/dev/null || { echo "git.sh: $t is needed" >&2; exit 1; }
done

cargo build --quiet --profile "$profile" --manifest-path "$root/Cargo.toml" \
    -p git-credential-entra -p entra-emulator
bin=${CARGO_TARGET_DIR:-$root/target}/$dir

tmp=$(mktemp -d)
emu_pid=
cleanup() {
    if [ -n "$emu_pid" ]; then kill "$emu_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$bin/entra-emulator" --client bench-app:bench-secret >"$tmp/urls" &
emu_pid=$!
for _ in $(seq 200); do [ -s "$tmp/urls" ] && break; sleep 0.05; done
entra=$(jq -r .entra "$tmp/urls")
repos=$(jq -r .repos "$tmp/urls")
host=${repos#http://}

# A clean environment for both commands.
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_CACHE_HOME=$tmp/home/.cache
export ENTRA_CRED_CACHE_DIR=$tmp/cache ENTRA_CRED_CONFIG=$tmp/config.toml ENTRA_CRED_KEYRING=file
export AZURE_AUTHORITY_HOST=$entra AZURE_CLIENT_ID=bench-app AZURE_CLIENT_SECRET=bench-secret
export ENTRA_CRED_GIT_HOSTS=$host GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
unset ENTRA_CRED_PROFILE AZURE_TENANT_ID ENTRA_CRED_LOG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT
mkdir -p "$HOME"

# What git 2.47 writes to its helpers after the server's 401 (the real headers).
{
    printf 'capability[]=authtype\ncapability[]=state\nprotocol=http\nhost=%s\npath=org1/proj/_git/repo\n' "$host"
    curl -sS -o /dev/null -D - "$repos/org1/proj/_git/repo/info/refs?service=git-upload-pack" |
        tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: /wwwauth[]=/p'
    printf '\n'
} >"$tmp/get.txt"
grep -q '^wwwauth\[\]=Bearer authorization_uri=' "$tmp/get.txt" || { echo "git.sh: no Bearer challenge from the emulator" >&2; exit 1; }

# Warm the cache, and give credential-store the same credential for the same host and path.
"$bin/git-credential-entra" get <"$tmp/get.txt" >"$tmp/answer"
token=$(sed -n 's/^credential=//p' "$tmp/answer")
[ -n "$token" ] || { echo "git.sh: the helper gave no token" >&2; exit 1; }
printf 'protocol=http\nhost=%s\npath=org1/proj/_git/repo\nusername=entra\npassword=%s\n\n' "$host" "$token" |
    git credential-store --file "$tmp/store" store
git credential-store --file "$tmp/store" get <"$tmp/get.txt" | grep -q '^password=' ||
    { echo "git.sh: credential-store does not answer" >&2; exit 1; }
tokens_before=$(curl -sS "$entra/_emulator/stats" | jq '.counts.Token // 0')

"$hf" -N --warmup 20 --input "$tmp/get.txt" --export-json "$tmp/hf.json" \
    -n "git-credential-entra get (cached)" "$bin/git-credential-entra get" \
    -n "git credential-store get" "git credential-store --file $tmp/store get"

tokens_after=$(curl -sS "$entra/_emulator/stats" | jq '.counts.Token // 0')
if [ "$tokens_after" != "$tokens_before" ]; then
    echo "git.sh: the benchmark made $((tokens_after - tokens_before)) token requests: not a warm cache" >&2
    exit 1
fi
echo
jq -r '
  (.results[0].median * 1000) as $a | (.results[1].median * 1000) as $b |
  "median \(.results[0].command): \($a * 100 | round / 100) ms\n" +
  "median \(.results[1].command): \($b * 100 | round / 100) ms\n" +
  "ratio entra / credential-store: \($a / $b * 100 | round / 100)"' "$tmp/hf.json"
echo "token requests during the benchmark: 0 ($profile build, $("$hf" --version))"
