#!/usr/bin/env bash
# A cached `entra-credential-process` run (token mode and federation mode) against
# `git credential-store --file F get` as the baseline of "read a credential from a file and
# print it", in one hyperfine run (-N: no shell; --warmup 20, at least 200 runs each).
# hyperfine gives every command an empty stdin: credential-store then matches the one
# credential in its file and prints it, the same work as answering a request for its host.
#
#   tests/bench/aws.sh                 # builds the release binaries first
#   PROFILE=dev tests/bench/aws.sh     # debug binaries (numbers not representative)
#   HYPERFINE=/path/to/hyperfine tests/bench/aws.sh
#
# It starts the emulator binary on loopback (Entra ID and STS), uses a client secret, warms
# both caches with one run each, then benchmarks, and fails if the measured runs made any
# request to Entra ID or STS (i.e. if they were not cache hits).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
profile=${PROFILE:-release}
case $profile in dev | test) dir=debug ;; *) dir=$profile ;; esac
hf=${HYPERFINE:-hyperfine}
for t in "$hf" jq curl git; do
    command -v "$t" >/dev/null || { echo "aws.sh: $t is needed" >&2; exit 1; }
done

cargo build --quiet --profile "$profile" --manifest-path "$root/Cargo.toml" \
    -p entra-credential-process -p entra-emulator
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
sts=$(jq -r .sts "$tmp/urls")

# A clean environment for every command.
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/home/.config XDG_CACHE_HOME=$tmp/home/.cache
export ENTRA_CRED_CACHE_DIR=$tmp/cache ENTRA_CRED_CONFIG=$tmp/config.toml ENTRA_CRED_KEYRING=file
export AZURE_AUTHORITY_HOST=$entra AZURE_CLIENT_ID=bench-app AZURE_CLIENT_SECRET=bench-secret
export AWS_ENDPOINT_URL_STS=$sts GIT_CONFIG_NOSYSTEM=1
unset ENTRA_CRED_PROFILE AZURE_TENANT_ID ENTRA_CRED_LOG AWS_ENDPOINT_URL AWS_REGION AWS_DEFAULT_REGION
mkdir -p "$HOME"

scope=api://aws-federation/.default
role=arn:aws:iam::123456789012:role/entra-dev
token_cmd="$bin/entra-credential-process --scope $scope"
fed_cmd="$bin/entra-credential-process --role-arn $role --scope $scope"

# Warm both caches (and check the answers).
$token_cmd | jq -e '.Version == 1 and .AccessKeyId == "entra"' >/dev/null
$fed_cmd | jq -e '.AccessKeyId | startswith("ASIA")' >/dev/null
token=$($token_cmd | jq -r .SessionToken)

# The baseline: git's plain-text store answering for a host with a credential of the same size.
printf 'protocol=https\nhost=sts.example\nusername=entra\npassword=%s\n\n' "$token" |
    git credential-store --file "$tmp/store" store
git credential-store --file "$tmp/store" get </dev/null | grep -q '^password=' ||
    { echo "aws.sh: credential-store does not answer" >&2; exit 1; }

stats() { curl -sS "$entra/_emulator/stats" | jq -c '[.counts.Token // 0, .counts.Sts // 0]'; }
before=$(stats)

"$hf" -N --warmup 20 --min-runs 200 --export-json "$tmp/hf.json" \
    -n "entra-credential-process token mode (cached)" "$token_cmd" \
    -n "entra-credential-process federation (cached)" "$fed_cmd" \
    -n "git credential-store get" "git credential-store --file $tmp/store get"

after=$(stats)
if [ "$after" != "$before" ]; then
    echo "aws.sh: the benchmark made requests ([Token, Sts] $before -> $after): not a warm cache" >&2
    exit 1
fi
jq -r '.results[] | "\(.command): mean \(.mean * 1000 | . * 100 | round / 100) ms ± \(.stddev * 1000 | . * 100 | round / 100) ms, min \(.min * 1000 | . * 100 | round / 100) ms"' "$tmp/hf.json"
