#!/usr/bin/env bash
# Benchmarks of entra-cred against the loopback emulator (release build). Prints a Markdown
# report (the README can paste it) and keeps hyperfine's JSON in $BENCH_OUT (default
# target/bench/).
#
#   tests/bench/run.sh                 # full run (~2-4 minutes on an idle 2-core machine)
#   BENCH_QUICK=1 tests/bench/run.sh   # fewer runs, for a smoke test
#
# Knobs: BENCH_ROUNDS (5), BENCH_RUNS (20 per round), BENCH_STORM ("40 200"),
# BENCH_SKIP_BUILD=1 (use the existing target/release), BENCH_OUT.
#
# What it measures:
# 1. the hot path: a cached `entra-cred token --scope S`, next to the baseline `git
#    credential-store --file F get` on the same host, plus every helper's cached call (git,
#    docker, kubectl, credential_process in both modes), in interleaved rounds (every round runs every
#    command, so load drift hits all alike); medians over all rounds, ratio to the baseline;
# 2. the refresh path: `entra-cred refresh --scope S` and, separately, the emulator's round trip
#    for the same grant (curl POST /token), so entra-cred's own share is visible;
# 3. 40 and 200 concurrent processes, on a cold cache and with every token inside the refresh
#    window: wall time, slowest process, Entra requests (from /_emulator/stats);
# 4. peak RSS (GNU time %M) of each hot-path command, and each binary's size (one table with 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# shellcheck source=tests/bench/lib.sh
. "$ROOT/tests/bench/lib.sh"

ROUNDS=${BENCH_ROUNDS:-5}
RUNS=${BENCH_RUNS:-20}
STORM=${BENCH_STORM:-"40 200"}
if [ "${BENCH_QUICK:-0}" = 1 ]; then ROUNDS=2 RUNS=5 STORM="40"; fi

for tool in hyperfine curl git python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt-get install $tool)" >&2; exit 1; }
done
[ -x /usr/bin/time ] || { echo "bench: GNU time is required (apt-get install time)" >&2; exit 1; }

if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release --workspace --bins >&2
fi
export BENCH_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
BENCH_OUT=${BENCH_OUT:-$ROOT/target/bench}
mkdir -p "$BENCH_OUT"
export BENCH_TMP
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/entra-bench.XXXXXX")
EMU_PID=
cleanup() {
  [ -n "$EMU_PID" ] && kill "$EMU_PID" 2>/dev/null
  rm -rf "$BENCH_TMP"
}
trap cleanup EXIT

# A clean environment: nothing from the caller's shell may change what is measured.
for v in $(env | sed -n 's/^\(ENTRA_CRED_[A-Z_]*\|AZURE_[A-Z_]*\|IDENTITY_[A-Z_]*\|MSI_[A-Z_]*\|AWS_[A-Z_]*\)=.*/\1/p'); do
  unset "$v"
done
export PATH="$BENCH_BIN:$PATH" HOME="$BENCH_TMP/home" XDG_CONFIG_HOME="$BENCH_TMP/home/.config" \
  XDG_CACHE_HOME="$BENCH_TMP/home/.cache" ENTRA_CRED_CACHE_DIR="$BENCH_TMP/cache" \
  ENTRA_CRED_CONFIG="$BENCH_TMP/config.toml" ENTRA_CRED_KEYRING=file LANG=C
mkdir -p "$HOME"
export SCOPE_ARM="https://management.azure.com/.default"
export SCOPE_DEVOPS="499b84ac-1321-427f-aa17-267ca6975798/.default"
SCOPES=("$SCOPE_ARM" "$SCOPE_DEVOPS" "https://vault.azure.net/.default" "https://storage.azure.com/.default")
APP=11111111-2222-3333-4444-555555555555
APP_SECRET=bench-app-secret-0123456789

# The emulator keeps rotated refresh tokens valid (as Entra does), so the refresh benchmark can
# replay one grant with curl.
"$BENCH_BIN/entra-emulator" --refresh-token-grace 86400 --client "$APP:$APP_SECRET" \
  >"$BENCH_TMP/urls.json" 2>"$BENCH_TMP/emulator.err" &
EMU_PID=$!
for _ in $(seq 100); do [ -s "$BENCH_TMP/urls.json" ] && break; sleep 0.05; done
export BENCH_URLS BENCH_ENTRA
BENCH_URLS=$(head -1 "$BENCH_TMP/urls.json")
BENCH_ENTRA=$(bench_url entra)
[ -n "$BENCH_ENTRA" ] || { echo "bench: the emulator did not start: $(cat "$BENCH_TMP/emulator.err")" >&2; exit 1; }
export AZURE_AUTHORITY_HOST=$BENCH_ENTRA

entra-cred login </dev/null 2>"$BENCH_TMP/login.err" || { cat "$BENCH_TMP/login.err" >&2; exit 1; }
entra-cred token --scope "$SCOPE_ARM" >/dev/null

# ---- 1. the hot path -----------------------------------------------------------------------
# Every binary's cached call next to the baseline `git credential-store get`. Commands that take
# no stdin run with hyperfine -N (no shell). hyperfine 1.15 (Debian's) has no --input, so
# commands that read a request on stdin (git's and docker's helpers) run as `exec CMD < FILE`
# under sh: hyperfine measures the shell's own start-up first and subtracts it, and `exec`
# leaves nothing else of the shell in the measurement. Their ratio is taken against the
# baseline run the same way (credential-store reading a real request from the same kind of
# file), so both sides pay the same. With hyperfine >= 1.17 every row runs with -N and --input.
printf 'https://user:%s@example.com\n' "baseline-password" >"$BENCH_TMP/git-credentials"
printf 'protocol=https\nhost=example.com\n\n' >"$BENCH_TMP/baseline.in"
# With -N hyperfine gives the command an empty stdin; for credential-store an empty request
# matches every entry, so this is a full lookup that prints the stored credential.
bench_cached "git credential-store get (baseline)" "" git credential-store --file "$BENCH_TMP/git-credentials" get
bench_cached "git credential-store get (baseline, stdin)" "$BENCH_TMP/baseline.in" git credential-store --file "$BENCH_TMP/git-credentials" get
bench_cached "entra-cred token" "" entra-cred token --scope "$SCOPE_ARM"

# git-credential-entra: the request git writes after the emulated Azure Repos' 401 (with its
# WWW-Authenticate headers as wwwauth[]), so the token is asked at the organisation's tenant.
repos=$(bench_url repos)
export ENTRA_CRED_GIT_HOSTS=${repos#http://} GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
{
  printf 'capability[]=authtype\ncapability[]=state\nprotocol=http\nhost=%s\npath=org1/proj/_git/repo\n' "${repos#http://}"
  curl -sS -o /dev/null -D - "$repos/org1/proj/_git/repo/info/refs?service=git-upload-pack" |
    tr -d '\r' | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: /wwwauth[]=/p'
  printf '\n'
} >"$BENCH_TMP/git.in"
git-credential-entra get <"$BENCH_TMP/git.in" | grep -q '^credential=' || { echo "bench: git-credential-entra gave no token" >&2; exit 1; }
bench_cached "git-credential-entra get" "$BENCH_TMP/git.in" git-credential-entra get

# docker-credential-entra: the registry as docker writes it.
acr=$(bench_url acr)
export ENTRA_CRED_ACR_HOSTS=${acr#http://}
printf '%s' "${acr#http://}" >"$BENCH_TMP/docker.in"
docker-credential-entra get <"$BENCH_TMP/docker.in" | grep -q '"Secret"' || { echo "bench: docker-credential-entra gave no secret" >&2; exit 1; }
bench_cached "docker-credential-entra get" "$BENCH_TMP/docker.in" docker-credential-entra get

# kubectl-entra: KUBERNETES_EXEC_INFO as kubectl sets it (AKS server id by default).
export KUBERNETES_EXEC_INFO='{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}'
kubectl-entra | grep -q '"token"' || { echo "bench: kubectl-entra gave no token" >&2; exit 1; }
bench_cached "kubectl-entra" "" kubectl-entra

# entra-credential-process: token mode and STS federation (the emulator's STS).
AWS_ENDPOINT_URL_STS=$(bench_url sts)
export AWS_ENDPOINT_URL_STS AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL=http://127.0.0.1:9
AWS_SCOPE=api://aws-federation/.default
AWS_ROLE=arn:aws:iam::123456789012:role/entra-dev
entra-credential-process --scope "$AWS_SCOPE" | grep -q '"SessionToken"' || { echo "bench: entra-credential-process (token mode) failed" >&2; exit 1; }
entra-credential-process --role-arn "$AWS_ROLE" --scope "$AWS_SCOPE" | grep -q '"ASIA' || { echo "bench: entra-credential-process (federation) failed" >&2; exit 1; }
bench_cached "entra-credential-process (token mode)" "" entra-credential-process --scope "$AWS_SCOPE"
bench_cached "entra-credential-process (federation)" "" entra-credential-process --role-arn "$AWS_ROLE" --scope "$AWS_SCOPE"
# Any other hot path: a tests/bench/hot-<name>.sh sourced here (one bench_cached line, lib.sh).
for f in "$ROOT"/tests/bench/hot-*.sh; do
  [ -e "$f" ] || continue
  # shellcheck disable=SC1090
  . "$f"
done
warm_requests="$(emulator_count Token) $(emulator_count AcrExchange) $(emulator_count Sts)"

echo "bench: hot path, $ROUNDS rounds x $RUNS runs of ${#BENCH_LABELS[@]} commands" >&2
rm -f "$BENCH_OUT"/r*.json
for r in $(seq "$ROUNDS"); do
  _bench_round "$BENCH_OUT" "$r" "$RUNS"
done
rss=()
for i in "${!BENCH_LABELS[@]}"; do rss+=("$(_bench_rss "$i")"); done
hot_requests="$(emulator_count Token) $(emulator_count AcrExchange) $(emulator_count Sts)"
if [ "$hot_requests" != "$warm_requests" ]; then
  echo "bench: the hot-path runs made requests (Token AcrExchange Sts: $warm_requests -> $hot_requests): not all cache hits" >&2
  exit 1
fi

# ---- 2. the refresh path -------------------------------------------------------------------
echo "bench: refresh path" >&2
RT=$(python3 -c 'import json,glob,sys; print(json.load(open(glob.glob(sys.argv[1]+"/secrets/rt-*.json")[0]))["value"])' "$ENTRA_CRED_CACHE_DIR")
hyperfine -N --style none --warmup 2 --runs $((RUNS < 15 ? RUNS : 15)) --export-json "$BENCH_OUT/refresh.json" \
  -n "entra-cred refresh --scope S" "entra-cred refresh --scope $SCOPE_ARM" \
  -n "emulator round trip (curl POST /token, same grant)" \
  "curl -s -o /dev/null -X POST $BENCH_ENTRA/organizations/oauth2/v2.0/token -d grant_type=refresh_token -d client_id=04b07795-8ddb-461a-bbee-02f9e1bf7b46 -d refresh_token=$RT --data-urlencode scope=$SCOPE_ARM\ offline_access\ openid\ profile" \
  -n "curl start-up alone (curl --version)" "curl --version" >/dev/null

# ---- 3. concurrent processes ---------------------------------------------------------------
# storm N MODE: N processes started together (a FIFO is the starting gate), round-robin over
# the four scopes. MODE cold: an empty cache, application credentials. MODE window: a signed-in
# user whose every cached token is inside the 5-minute refresh window.
storm() {
  local n=$1 mode=$2 dir="$BENCH_TMP/storm-$1-$2" i
  mkdir -p "$dir/out"
  local -a envs=(ENTRA_CRED_CACHE_DIR="$dir/cache")
  if [ "$mode" = cold ]; then
    envs+=(AZURE_CLIENT_ID="$APP" AZURE_CLIENT_SECRET="$APP_SECRET" AZURE_TENANT_ID=3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f)
  else
    emulator_config '{"token_lifetime":290}'
    env "${envs[@]}" entra-cred login </dev/null 2>/dev/null
    for s in "${SCOPES[@]}"; do env "${envs[@]}" entra-cred token --scope "$s" >/dev/null; done
    # As if fetched a minute ago: a token shorter than the margin that another process fetched
    # moments ago is served to everyone (the engine's rule), which is not what this measures.
    python3 - "$dir/cache" <<'PY'
import json, pathlib, sys
for p in pathlib.Path(sys.argv[1], "sessions").glob("*.json"):
    v = json.loads(p.read_text())
    for t in v.get("tokens", {}).values():
        t["obtained_at"] = t.get("obtained_at", 0) - 60
    p.write_text(json.dumps(v))
PY
    emulator_config '{"token_lifetime":3600}'
  fi
  local before
  before=$(emulator_count Token)
  mkfifo "$dir/gate"
  for i in $(seq "$n"); do
    (
      : >"$dir/ready.$i"
      : <"$dir/gate" # opening a FIFO for reading waits for the writer: the starting gun
      s=$EPOCHREALTIME
      env "${envs[@]}" entra-cred token --scope "${SCOPES[$((i % 4))]}" >"$dir/out/$i.tok" 2>"$dir/out/$i.err"
      rc=$?
      echo "$rc $s $EPOCHREALTIME" >"$dir/out/$i.t"
    ) &
  done
  for _ in $(seq 600); do
    [ "$(find "$dir" -maxdepth 1 -name 'ready.*' | wc -l)" -ge "$n" ] && break
    sleep 0.05
  done
  exec 9<>"$dir/gate" # open (read-write: never blocks) = every waiting process starts
  # shellcheck disable=SC2046
  wait $(jobs -p | grep -v "^$EMU_PID\$") 2>/dev/null || true
  exec 9>&-
  local after
  after=$(emulator_count Token)
  python3 - "$dir/out" "$n" "$mode" $((after - before)) >>"$BENCH_TMP/storm.md" <<'EOF'
import glob, os, sys
d, n, mode, requests = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rows = [open(f).read().split() for f in glob.glob(d + "/*.t")]
starts = [float(r[1]) for r in rows]; ends = [float(r[2]) for r in rows]
fails = sum(1 for r in rows if r[0] != "0") + (n - len(rows))
by_scope = {}
for f in glob.glob(d + "/*.tok"):
    i = int(os.path.basename(f).split(".")[0])
    by_scope.setdefault(i % 4, set()).add(open(f).read().strip())
consistent = all(len(v) == 1 for v in by_scope.values())
wall = (max(ends) - min(starts)) * 1000
slowest = max(e - s for s, e in zip(starts, ends)) * 1000
cache = "cold (app credentials)" if mode == "cold" else "inside the refresh window (user)"
print(f"| {n} | {cache} | {wall:.0f} ms | {slowest:.0f} ms | {requests} (4 scopes) | {'yes' if consistent else 'NO'} | {fails} |")
EOF
}
echo "bench: concurrency ($STORM)" >&2
: >"$BENCH_TMP/storm.md"
for n in $STORM; do
  storm "$n" cold
  storm "$n" window
done

# ---- 4. profile of the cached call ----------------------------------------------------------
# What the hot path does besides printing: system calls (strace), the files it opens, whether
# it touches the network or the keyring, and its instruction count (callgrind).
profile_md="$BENCH_TMP/profile.md"
: >"$profile_md"
hot=(entra-cred token --scope "$SCOPE_ARM")
if command -v strace >/dev/null; then
  strace -f -qq -o "$BENCH_TMP/strace.txt" "${hot[@]}" >/dev/null
  nsys=$(grep -c -v -e '^+++' -e '^---' "$BENCH_TMP/strace.txt")
  opened=$(sed -n 's/.*openat([^"]*"\([^"]*\)".*/\1/p' "$BENCH_TMP/strace.txt" | grep -v -e '^/lib' -e '^/etc/ld.so' -e '^/proc/self' | sed "s|$BENCH_TMP|\$TMP|" | paste -sd, -)
  net=$(grep -c -E '^[0-9]+ +(socket|connect)\(' "$BENCH_TMP/strace.txt" || true)
  procs=$(grep -c -E '^[0-9]+ +(clone|clone3|fork|vfork|execve)\(' "$BENCH_TMP/strace.txt" || true)
  keyring=$(grep -c -E '^[0-9]+ +(add_key|request_key|keyctl)\(' "$BENCH_TMP/strace.txt" || true)
  {
    echo "| profile of a cached \`entra-cred token\` | |"
    echo "|---|---|"
    echo "| system calls (strace -f) | $nsys |"
    echo "| files opened (besides the loader's) | ${opened:-none} |"
    echo "| sockets / connects | $net |"
    echo "| processes or threads started (clone/execve, incl. its own exec) | $procs |"
    echo "| keyring calls | $keyring |"
  } >>"$profile_md"
fi
if command -v valgrind >/dev/null; then
  ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "${hot[@]}" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo "| instructions (valgrind callgrind, Ir) | ${ir:-?} |" >>"$profile_md"
fi
# The same counts for every measured cached call (the helpers included), one row each.
if command -v strace >/dev/null; then
  {
    echo
    echo "| cached call (strace -f) | system calls | sockets / connects | processes started (incl. its own exec) | keyring calls | files opened (besides the loader's) |"
    echo "|---|---|---|---|---|---|"
    for i in "${!BENCH_LABELS[@]}"; do
      st="$BENCH_TMP/strace.$i"
      eval "strace -f -qq -o \"\$st\" ${BENCH_CMDS[$i]}" <"${BENCH_INPUTS[$i]:-/dev/null}" >/dev/null 2>&1 || true
      n=$(grep -c -v -e '^+++' -e '^---' "$st" || true)
      so=$(grep -c -E '^[0-9]+ +(socket|connect)\(' "$st" || true)
      pr=$(grep -c -E '^[0-9]+ +(clone|clone3|fork|vfork|execve)\(' "$st" || true)
      kr=$(grep -c -E '^[0-9]+ +(add_key|request_key|keyctl)\(' "$st" || true)
      op=$(sed -n 's/.*openat([^"]*"\([^"]*\)".*/\1/p' "$st" | grep -v -e '^/lib' -e '^/usr/lib' -e '^/etc/ld.so' -e '^/proc/self' | sed "s|$BENCH_TMP|\$TMP|" | sed 's|\([/-]\)[0-9a-f]\{16,\}\.json|\1<hash>.json|' | sort -u | paste -sd, - | sed 's/,/, /g')
      echo "| ${BENCH_LABELS[$i]} | $n | $so | $pr | $kr | ${op:-none} |"
    done
  } >>"$profile_md"
fi

# ---- report --------------------------------------------------------------------------------
labels=$(printf '%s\n' "${BENCH_LABELS[@]}")
inputs=$(for i in "${BENCH_INPUTS[@]}"; do if [ -n "$i" ]; then echo stdin; else echo none; fi; done)
how_stdin="sh, stdin"
hyperfine_has_input && how_stdin="-N, --input"
rss_list=$(printf '%s\n' "${rss[@]}")
sizes=""
for b in $(sed -e "s/#.*//" "$ROOT/binaries.txt") git; do
  p=$BENCH_BIN/$b
  [ "$b" = git ] && p=$(command -v git)
  [ -f "$p" ] && sizes+="$b=$(python3 -c 'import os,sys; print(os.path.getsize(sys.argv[1]))' "$p")"$'\n'
done
python3 - "$BENCH_OUT" "$labels" "$rss_list" "$ROUNDS" "$RUNS" "$inputs" "$sizes" "$(hyperfine --version)" "$how_stdin" <<EOF
import glob, json, os, statistics, sys
out, labels, rss, rounds, runs = sys.argv[1], sys.argv[2].split("\n"), sys.argv[3].split("\n"), sys.argv[4], sys.argv[5]
stdin = [x == "stdin" for x in sys.argv[6].split("\n")]
sizes = dict(l.split("=", 1) for l in sys.argv[7].split("\n") if "=" in l)
hf, how_stdin = sys.argv[8], sys.argv[9]
times = {}
for f in sorted(glob.glob(out + "/r*.json")):
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
ms = lambda s: f"{s*1000:.2f} ms"
med = {l: statistics.median(times[l]) for l in labels if times.get(l)}
base = {False: med[labels[0]], True: med.get(labels[1], med[labels[0]])}
load = open("/proc/loadavg").read().split()[:3]
print(f"### Benchmarks ({os.uname().machine}, {os.cpu_count()} CPUs, load average {' '.join(load)} at the end)")
print()
print(f"Made by \`tests/bench/run.sh\` (release build, emulator on loopback, {hf}, {rounds} interleaved rounds x {runs} runs of every command).")
print("Rows run *sh, stdin* read their request from a file as \`exec CMD < FILE\` under sh, whose start-up hyperfine measures and")
print("subtracts (hyperfine < 1.17 has no --input); their ratio is to the baseline run the same way. Other rows run without a shell (-N).")
print("No measured run made a request to Entra, the registry or STS (checked).")
print()
print("| binary: cached call | how run | median | mean ± σ | vs \`git credential-store get\` | peak RSS | binary size |")
print("|---|---|---|---|---|---|---|")
for i, l in enumerate(labels):
    if l not in med:
        continue
    t = times[l]
    kib = int(rss[i]) if i < len(rss) and rss[i].isdigit() else 0
    binary = "git" if l.startswith("git credential-store") else l.split()[0]
    size = f"{int(sizes[binary])/1048576:.2f} MiB" if binary in sizes else "?"
    how = how_stdin if stdin[i] else "-N"
    print(f"| {l} | {how} | {ms(med[l])} | {ms(statistics.mean(t))} ± {ms(statistics.pstdev(t))} | {med[l]/base[stdin[i]]:.2f}× | {kib/1024:.1f} MiB | {size} |")
print()
ref = {r["command"]: r for r in json.load(open(out + "/refresh.json"))["results"]}
print("| refresh path | median |")
print("|---|---|")
for k, r in ref.items():
    print(f"| {k} | {ms(r['median'])} |")
print()
EOF
echo "| concurrent processes | cache | wall time (all done) | slowest process | Entra requests | one token per scope | failures |"
echo "|---|---|---|---|---|---|---|"
cat "$BENCH_TMP/storm.md"
echo
cat "$profile_md"

