#!/usr/bin/env bash
# Folds what fuzz/run.sh found (target/fuzz-corpus/<target>) into the small corpus kept in the
# repository (fuzz/corpus/<target>): the smallest set of inputs that covers every edge
# (libFuzzer set-cover merge on edges only), plus the hand-written seeds (named files).
#   fuzz/minimize.sh [target...]
set -euo pipefail
cd "$(dirname "$0")"
work=${FUZZ_WORK:-../target/fuzz-corpus}
bin=target/x86_64-unknown-linux-gnu/release
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(rustup run nightly cargo fuzz list)
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { echo "minimize: build first (fuzz/run.sh)" >&2; exit 2; }
  new=$(mktemp -d)
  "$bin/$t" -set_cover_merge=1 -use_counters=0 -use_cmp=0 -use_value_profile=0 \
    "$new" "corpus/$t" "$work/$t" >"$new.log" 2>&1 || { cat "$new.log" >&2; exit 1; }
  # Keep the named seeds (readable examples); replace the hash-named inputs.
  find "corpus/$t" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' -delete
  for f in "$new"/*; do [ -e "corpus/$t/$(basename "$f")" ] || cp "$f" "corpus/$t/"; done
  echo "minimize: $t: $(find "corpus/$t" -type f | wc -l) inputs, $(cat "corpus/$t"/* | wc -c) bytes" >&2
  rm -rf "$new" "$new.log"
done
