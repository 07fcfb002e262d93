#!/usr/bin/env bash
# CI smoke test: every fuzz target for ~10 s (FUZZ_SMOKE_SECONDS). Skips (exit 0, with a
# message) when nightly, cargo-fuzz or a C++ compiler is missing; needs no network beyond
# crates.io (libfuzzer-sys is fetched from there on the first build).
set -euo pipefail
cd "$(dirname "$0")"
skip() {
  echo "fuzz smoke: skipped: $*" >&2
  exit 0
}
rustup run nightly rustc --version >/dev/null 2>&1 || skip "no nightly toolchain (rustup toolchain install nightly)"
rustup run nightly cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo install cargo-fuzz)"
command -v c++ >/dev/null 2>&1 || command -v clang++ >/dev/null 2>&1 || skip "no C++ compiler (libFuzzer is built from source)"
exec ./run.sh "${FUZZ_SMOKE_SECONDS:-10}"
