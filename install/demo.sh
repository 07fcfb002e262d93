#!/usr/bin/env bash
# The one-command demo: from nothing to "git push, a registry read (skopeo), kubectl and AWS tools
# all work", against entra-emulator on loopback, in a throwaway HOME (your own config files are
# not touched).
#
#   install/demo.sh [--release] [--keep] [--bin-dir DIR]
#
#   --release      build optimised binaries (slower to build); default: debug
#   --keep         keep the throwaway HOME (printed at the end) for a look around
#   --bin-dir DIR  run the entra-cred binaries installed in DIR (e.g. /usr/bin from the Debian
#                  package) instead of building them; only the emulator is built
#
# Steps: build; start entra-emulator; `entra-cred login` (device code, approved by the emulator);
# `entra-cred setup git|docker|kubectl|aws`; then real `git clone` + `git push`, `kubectl get
# --raw /api/v1/namespaces`, `skopeo inspect docker://<acr>/app:v1` and `aws sts
# get-caller-identity`, each through the helpers. Needs git, kubectl, skopeo, python3, and the AWS
# CLI or boto3. Exits non-zero at the first failing step; everything is cleaned up on exit.
set -euo pipefail

release=""
keep=no
bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
        --release) release="--release" ;;
        --keep) keep=yes ;;
        --bin-dir) [ $# -ge 2 ] || { echo "demo.sh: --bin-dir needs a directory" >&2; exit 2; }
            bin_dir=$2; shift ;;
        --bin-dir=*) bin_dir=${1#--bin-dir=} ;;
        -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "demo.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

here=$(cd "$(dirname "$0")/.." && pwd)
bold=$(printf '\033[1m'); green=$(printf '\033[32m'); red=$(printf '\033[31m'); off=$(printf '\033[0m')
[ -t 1 ] || { bold=""; green=""; red=""; off=""; }

STEPS=()
RESULTS=()
emu_pid=""
tmp=""

summary() {
    echo
    echo "${bold}Summary${off}"
    local i
    for i in "${!STEPS[@]}"; do
        case "${RESULTS[$i]}" in
            ok) printf '  %s✔ ok  %s  %s\n' "$green" "$off" "${STEPS[$i]}" ;;
            *) printf '  %s✘ %s%s  %s\n' "$red" "${RESULTS[$i]}" "$off" "${STEPS[$i]}" ;;
        esac
    done
}

cleanup() {
    local rc=$?
    if [ -n "$emu_pid" ]; then
        kill "$emu_pid" 2>/dev/null || true
        wait "$emu_pid" 2>/dev/null || true
    fi
    summary
    if [ -n "$tmp" ]; then
        if [ "$keep" = yes ]; then
            echo "Throwaway HOME kept: $tmp/home"
        else
            rm -rf "$tmp"
        fi
    fi
    if [ "$rc" -eq 0 ]; then
        echo "${green}${bold}Demo passed:${off} one sign-in served git, the registry, Kubernetes and AWS."
    else
        echo "${red}${bold}Demo failed${off} (exit $rc)." >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step "title" command...: prints the step, runs it with a time limit, records the result.
step() {
    local title=$1
    shift
    STEPS+=("$title")
    echo
    echo "${bold}==> ${title}${off}"
    echo "    \$ $*"
    local runner=(timeout 120)
    [ "$(type -t "$1")" = function ] && runner=()
    if "${runner[@]}" "$@"; then
        RESULTS+=("ok")
    else
        local rc=$?
        RESULTS+=("failed (exit $rc)")
        echo "${red}step failed: ${title}${off}" >&2
        exit 1
    fi
}

need() {
    local missing=()
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "demo.sh: missing tools: ${missing[*]} (install them and run again)" >&2
        exit 1
    fi
}
need cargo git kubectl skopeo python3 curl timeout
if command -v aws >/dev/null 2>&1; then aws_tool=cli
elif python3 -c 'import boto3' 2>/dev/null; then aws_tool=boto3
else echo "demo.sh: neither the AWS CLI nor boto3 is installed" >&2; exit 1
fi

# ----- build ---------------------------------------------------------------------------------
# BIN: the entra-cred binaries the demo runs; EMU_BIN: where entra-emulator is.
EMU_BIN="$here/target/$([ -n "$release" ] && echo release || echo debug)"
if [ -n "$bin_dir" ]; then
    BIN=$(cd "$bin_dir" && pwd) || exit 1
    [ -x "$BIN/entra-cred" ] || { echo "demo.sh: $BIN/entra-cred is missing" >&2; exit 1; }
    step "build entra-emulator (${release:-debug}); the binaries under test are in $BIN" \
        cargo build --quiet -p entra-emulator $release --manifest-path "$here/Cargo.toml"
else
    step "build the workspace (${release:-debug})" \
        cargo build --quiet --workspace --bins $release --manifest-path "$here/Cargo.toml"
    BIN=$EMU_BIN
fi

# ----- throwaway HOME and a clean environment --------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/entra-cred-demo.XXXXXX")
mkdir -p "$tmp/home" "$tmp/run" "$tmp/work"
chmod 700 "$tmp/run"
# Nothing from the real environment may leak in (another login, AWS keys, proxies, git config).
for v in $(env | sed -n 's/^\(AZURE_[A-Z_]*\|ENTRA_CRED_[A-Z_]*\|AWS_[A-Z_]*\|KUBECONFIG\|DOCKER_CONFIG\|REGISTRY_AUTH_FILE\|GIT_[A-Z_]*\|IDENTITY_[A-Z_]*\|MSI_[A-Z_]*\|[Hh][Tt][Tt][Pp][Ss]*_[Pp][Rr][Oo][Xx][Yy]\|[Nn][Oo]_[Pp][Rr][Oo][Xx][Yy]\)=.*/\1/p'); do
    unset "$v"
done
export HOME="$tmp/home"
export XDG_CONFIG_HOME="$HOME/.config" XDG_CACHE_HOME="$HOME/.cache" XDG_RUNTIME_DIR="$tmp/run"
export PATH="$BIN:$PATH"
export ENTRA_CRED_KEYRING=file
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
export GIT_AUTHOR_NAME="Demo" GIT_AUTHOR_EMAIL="demo@contoso.example"
export GIT_COMMITTER_NAME="Demo" GIT_COMMITTER_EMAIL="demo@contoso.example"
export KUBECONFIG="$HOME/.kube/config"
export AWS_CONFIG_FILE="$HOME/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$HOME/.aws/credentials"
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
# IMDS must never be reached off-box: point it at a closed loopback port.
export AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:9

# ----- the emulator --------------------------------------------------------------------------
echo
echo "${bold}==> start entra-emulator on loopback${off}"
# A bare repository for the emulated Azure Repos (served by `git http-backend`):
# <repos root>/<org>/<project>/<repo>.git answers https://dev.azure.com/<org>/<project>/_git/<repo>.
mkdir -p "$tmp/repos/contoso/demo"
git init --quiet --bare --initial-branch=main "$tmp/repos/contoso/demo/demo.git"
seed="$tmp/seed"
git init --quiet --initial-branch=main "$seed"
echo "# demo" >"$seed/README.md"
git -C "$seed" add README.md
git -C "$seed" commit --quiet -m "initial commit"
git -C "$seed" push --quiet "$tmp/repos/contoso/demo/demo.git" main
"$EMU_BIN/entra-emulator" --repos-root "$tmp/repos" >"$tmp/emulator.json" 2>"$tmp/emulator.log" &
emu_pid=$!
for _ in $(seq 1 100); do
    [ -s "$tmp/emulator.json" ] && break
    kill -0 "$emu_pid" 2>/dev/null || { cat "$tmp/emulator.log" >&2; echo "entra-emulator exited" >&2; exit 1; }
    sleep 0.1
done
[ -s "$tmp/emulator.json" ] || { echo "entra-emulator printed no URLs" >&2; exit 1; }
STEPS+=("start entra-emulator"); RESULTS+=("ok")
url() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$tmp/emulator.json" "$1"; }
hostport() { printf '%s\n' "$1" | sed -e 's#^[a-z]*://##' -e 's#/.*$##'; }
ENTRA=$(url entra); REPOS=$(url repos); ACR=$(url acr); KUBE=$(url kube); STS=$(url sts)
for s in ENTRA REPOS ACR KUBE STS; do
    [ -n "${!s}" ] || { echo "entra-emulator did not report a URL for ${s,,}" >&2; exit 1; }
    printf '    %-6s %s\n' "${s,,}" "${!s}"
done
REPOS_HOST=$(hostport "$REPOS"); ACR_HOST=$(hostport "$ACR")
export AZURE_AUTHORITY_HOST="$ENTRA"
export AWS_ENDPOINT_URL_STS="$STS"

# ----- demo parameters ------------------------------------------------------------------------
# The repository the emulator's git http-backend serves, as <org>/<project>/_git/<repo>.
REPO_PATH=${DEMO_REPO_PATH:-contoso/demo/_git/demo}
# An image the emulator's registry serves.
IMAGE=${DEMO_IMAGE:-app:v1}
# The AKS server application id the emulator's Kubernetes API expects as audience.
KUBE_SERVER_ID=${DEMO_KUBE_SERVER_ID:-6dae42f8-4368-4678-94ff-3960e28e3630}
# The Entra scope the emulator's STS trusts as the OIDC audience, and a role it knows.
AWS_SCOPE=${DEMO_AWS_SCOPE:-api://aws-federation/.default}
AWS_ROLE_ARN=${DEMO_AWS_ROLE_ARN:-arn:aws:iam::123456789012:role/entra-dev}
# The emulator's default tenant (the one in shared/fixtures' kubeconfig too).
TENANT=${DEMO_TENANT:-3c0b1f5e-8d2a-4a57-9f3e-0b7c1d2e4a6f}

# The CA of the emulator's TLS listener, from its admin API (verification stays on).
curl -fsS "$ENTRA/_emulator/kube-ca" -o "$tmp/kube-ca.pem"
[ -s "$tmp/kube-ca.pem" ] || { echo "the emulator gave no Kubernetes CA" >&2; exit 1; }
kube_tls="    certificate-authority-data: $(base64 <"$tmp/kube-ca.pem" | tr -d '\n')"

# The entra-cred profile: the emulator's repos and registry are loopback hosts, so they are named.
mkdir -p "$XDG_CONFIG_HOME/entra-cred"
export ENTRA_CRED_CONFIG="$XDG_CONFIG_HOME/entra-cred/config.toml"
cat >"$ENTRA_CRED_CONFIG" <<EOF
[profiles.default]
git_hosts = ["$REPOS_HOST"]
acr_hosts = ["$ACR_HOST"]
EOF

# A kubeconfig as older `az aks get-credentials` wrote it (legacy azure auth-provider).
mkdir -p "$HOME/.kube"
cat >"$KUBECONFIG" <<EOF
apiVersion: v1
kind: Config
preferences: {}
current-context: aks-demo
clusters:
- name: aks-demo
  cluster:
    server: $KUBE
$kube_tls
contexts:
- name: aks-demo
  context:
    cluster: aks-demo
    user: clusterUser_rg-demo_aks-demo
users:
- name: clusterUser_rg-demo_aks-demo
  user:
    auth-provider:
      name: azure
      config:
        apiserver-id: $KUBE_SERVER_ID
        client-id: 04b07795-8ddb-461a-bbee-02f9e1bf7b46
        config-mode: "1"
        environment: AzurePublicCloud
        tenant-id: $TENANT
EOF

# ----- sign in once, wire up every tool --------------------------------------------------------
step "sign in once (device code; the emulator approves it)" entra-cred login
step "setup git: helper for dev.azure.com, *.visualstudio.com and $REPOS_HOST" \
    entra-cred setup git --host "$REPOS_HOST"
step "setup docker: credHelpers entry for $ACR_HOST" entra-cred setup docker "$ACR_HOST"
step "setup kubectl: convert the AKS user to kubectl-entra" entra-cred setup kubectl --kubeconfig "$KUBECONFIG"
step "setup aws: credential_process for profile 'demo'" \
    entra-cred setup aws --aws-profile demo --scope "$AWS_SCOPE" --role-arn "$AWS_ROLE_ARN" --region us-east-1
step "a second setup changes nothing" entra-cred setup git --host "$REPOS_HOST"

# ----- the real tools, through the helpers -----------------------------------------------------
clone="$tmp/work/repo"
step "git clone $REPOS/$REPO_PATH" git clone --quiet "$REPOS/$REPO_PATH" "$clone"
git_push() {
    cd "$clone"
    echo "pushed by demo.sh at $(date -u +%FT%TZ)" >>DEMO.md
    git add DEMO.md
    git commit --quiet -m "demo: a commit pushed through git-credential-entra"
    git push --quiet origin HEAD
}
step "git push (a new commit)" git_push
kubectl_namespaces() { kubectl get --raw /api/v1/namespaces; echo; }
step "kubectl get --raw /api/v1/namespaces" kubectl_namespaces
step "skopeo inspect docker://$ACR_HOST/$IMAGE" \
    skopeo inspect --tls-verify=false "docker://$ACR_HOST/$IMAGE"
if [ "$aws_tool" = cli ]; then
    step "aws sts get-caller-identity --profile demo" aws sts get-caller-identity --profile demo
else
    step "boto3: sts.get_caller_identity() with profile demo" python3 -c \
        'import boto3; print(boto3.Session(profile_name="demo").client("sts").get_caller_identity()["Arn"])'
fi
step "entra-cred status" entra-cred status
