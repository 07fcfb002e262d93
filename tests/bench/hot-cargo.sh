# shellcheck shell=bash
# Sourced by run.sh: cargo-credential-entra's cached `get`, with the request cargo writes after
# the emulated Azure Artifacts feed's 401 (its WWW-Authenticate header in registry.headers, so
# the token is asked at the organisation's tenant). One request a line, then EOF, as cargo does.
art=$(bench_url artifacts)
export ENTRA_CRED_ARTIFACTS_HOSTS=${art#https://}
curl -sf "$BENCH_ENTRA/_emulator/kube-ca" >"$BENCH_TMP/emulator-ca.pem"
challenge=$(curl -sS --cacert "$BENCH_TMP/emulator-ca.pem" -o /dev/null -D - \
  "$art/org1/_packaging/feed1/Cargo/index/config.json" |
  tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: \(Bearer .*\)/\1/p')
[ -n "$challenge" ] || { echo "bench: no Bearer challenge from the Azure Artifacts feed" >&2; exit 1; }
printf '{"v":1,"registry":{"index-url":"sparse+%s/org1/_packaging/feed1/Cargo/index/","name":"azure","headers":["WWW-Authenticate: %s"]},"kind":"get","operation":"read","args":[]}\n' \
  "$art" "$challenge" >"$BENCH_TMP/cargo.in"
cargo-credential-entra --cargo-plugin <"$BENCH_TMP/cargo.in" | grep -q '"Bearer ' ||
  { echo "bench: cargo-credential-entra gave no token" >&2; exit 1; }
bench_cached "cargo-credential-entra get" "$BENCH_TMP/cargo.in" cargo-credential-entra --cargo-plugin
