# shellcheck shell=bash
# Helpers for tests/bench/run.sh. (The standalone scripts tests/bench/{git,docker,kubectl,aws}.sh
# are separate tools, never sourced.)
#
# run.sh registers every binary's hot path itself; anything more goes in a file
# tests/bench/hot-<name>.sh, sourced by run.sh after the emulator is up and `entra-cred` is
# signed in. It may set up what it needs (export variables, warm its cache with one call) and
# then registers its hot path with ONE line:
#
#   bench_cached "git-credential-entra get" "$BENCH_TMP/git.in" git-credential-entra get
#
# (label, a file fed on stdin or "" for none, the command and its arguments). run.sh measures
# every registered command interleaved with the baseline, and reports median, ratio to the
# baseline and peak RSS for each.
#
# Available to the scripts: BENCH_BIN (release binaries, also first on PATH), BENCH_TMP (scratch
# dir), BENCH_ENTRA (emulator's Entra URL), BENCH_URLS (the emulator's JSON line of service
# URLs), bench_url SERVICE, emulator_count ENDPOINT, SCOPE_ARM, SCOPE_DEVOPS.

BENCH_LABELS=()
BENCH_INPUTS=()
BENCH_CMDS=()

# bench_cached LABEL STDIN_FILE CMD [ARGS...]
bench_cached() {
  local label=$1 input=$2
  shift 2
  local q
  q=$(printf '%q ' "$@")
  BENCH_LABELS+=("$label")
  BENCH_INPUTS+=("$input")
  BENCH_CMDS+=("${q% }")
}

# The URL of an emulator service by name (entra, repos, acr, kube, sts, imds, ...).
bench_url() {
  python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$BENCH_URLS" "$1"
}

# Requests the emulator has counted for an endpoint (Token, AcrExchange, ...).
emulator_count() {
  curl -sf "$BENCH_ENTRA/_emulator/stats" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"].get(sys.argv[1], 0))' "$1"
}

emulator_config() {
  curl -sf -X POST "$BENCH_ENTRA/_emulator/config" -d "$1" >/dev/null
}

# Whether this hyperfine can feed stdin to a command run without a shell (>= 1.17).
hyperfine_has_input() {
  hyperfine --help 2>/dev/null | grep -q -- '--input'
}

# hyperfine over the registered commands of one stdin group; appends JSON exports to $1.
# Commands without stdin run with -N (no shell). Commands with stdin use --input when this
# hyperfine has it, else a shell (`exec cmd < file`) whose own start-up hyperfine subtracts;
# the report compares them with a baseline that reads its stdin the same way.
_bench_round() {
  local out=$1 round=$2 runs=$3
  local -a plain=() groups=()
  local i
  for i in "${!BENCH_LABELS[@]}"; do
    if [ -z "${BENCH_INPUTS[$i]}" ]; then plain+=("$i"); else groups+=("$i"); fi
  done
  local -a args=()
  for i in "${plain[@]}"; do args+=(-n "${BENCH_LABELS[$i]}" "${BENCH_CMDS[$i]}"); done
  if [ ${#plain[@]} -gt 0 ]; then
    hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$out/r$round-plain.json" "${args[@]}" >/dev/null
  fi
  for i in "${groups[@]}"; do
    if hyperfine_has_input; then
      hyperfine -N --style none --warmup 3 --runs "$runs" --input "${BENCH_INPUTS[$i]}" \
        --export-json "$out/r$round-$i.json" -n "${BENCH_LABELS[$i]}" "${BENCH_CMDS[$i]}" >/dev/null
    else
      hyperfine --shell sh --style none --warmup 3 --runs "$runs" \
        --export-json "$out/r$round-$i.json" -n "${BENCH_LABELS[$i]}" \
        "exec ${BENCH_CMDS[$i]} < $(printf '%q' "${BENCH_INPUTS[$i]}")" >/dev/null
    fi
  done
}

# Peak RSS (KiB, max over 5 runs) of registered command number $1 (GNU time's %M).
_bench_rss() {
  local i=$1 max=0 r k input=${BENCH_INPUTS[$1]}
  [ -n "$input" ] || input=/dev/null
  for k in 1 2 3 4 5; do
    eval "/usr/bin/time -o \"\$BENCH_TMP/rss.txt\" -f %M ${BENCH_CMDS[$i]}" <"$input" >/dev/null 2>&1 || true
    r=$(tail -1 "$BENCH_TMP/rss.txt" 2>/dev/null)
    [[ "$r" =~ ^[0-9]+$ ]] && [ "$r" -gt "$max" ] && max=$r
  done
  echo "$max"
}
