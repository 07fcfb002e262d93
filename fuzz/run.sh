#!/usr/bin/env bash
# Runs every fuzz target for N seconds each (default 30) and prints a summary:
#   fuzz/run.sh [seconds] [target...]
# Needs nightly (`rustup toolchain install nightly`) and cargo-fuzz (`cargo install cargo-fuzz`).
# New inputs go to target/fuzz-corpus/<target> (the seeds in fuzz/corpus/<target> are read,
# never written); crashes go to fuzz/artifacts/<target>/ and fail the run.
# Extra libFuzzer flags: FUZZ_ARGS="-max_len=8192 -jobs=2". Builds use cargo-fuzz's default
# mode: optimised, with debug assertions and overflow checks, AddressSanitizer.
# Afterwards fuzz/minimize.sh folds the new inputs into the repository's small corpus.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
shift || true
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: the nightly toolchain is missing (rustup toolchain install nightly)" >&2
  exit 2
fi
if ! rustup run nightly cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(rustup run nightly cargo fuzz list)
rustup run nightly cargo fuzz build >&2
work=${FUZZ_WORK:-../target/fuzz-corpus}
summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "$work/$t" "corpus/$t"
  log="$work/$t.log"
  echo "fuzz: $t for ${secs}s" >&2
  # shellcheck disable=SC2086
  if rustup run nightly cargo fuzz run "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 ${FUZZ_ARGS:-} \
    >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log and fuzz/artifacts/$t/)"
    status=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  # Plateau: the execution at which edge coverage first reached 97 % of its final value.
  p97=$(grep -E '^#[0-9]+' "$log" | awk -v f="${cov:-0}" '{for (i = 1; i < NF; i++) if ($i == "cov:" && $(i + 1) >= 0.97 * f) { sub("#", "", $1); print $1; exit }}' || true)
  summary+=("| $t | $secs s | ${execs:-?} | ${cov:-?} | ${p97:-?} | ${ft:-?} | ${corp:-?} | $result |")
done
echo
echo "| target | time | executions | coverage (edges) | 97 % of it by execution | features | corpus (inputs/size) | result |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
exit $status
