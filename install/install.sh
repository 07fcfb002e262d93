#!/bin/sh
# Install entra-cred and its protocol helpers (binaries.txt) from this source tree.
#
#   install/install.sh [--prefix DIR] [--debug] [--setup "TOOL ARGS..."]...
#
#   --prefix DIR   install into DIR/bin (default: cargo's own root, $CARGO_HOME or ~/.cargo)
#   --debug        unoptimised build (faster to build; for trying things out)
#   --setup "..."  after installing, run `entra-cred setup ...` with these words, e.g.
#                  --setup git  --setup "docker myreg.azurecr.io"  --setup kubectl
#                  --setup "aws --aws-profile dev --scope api://<app>/.default --role-arn <arn>"
#
# Needs only the Rust toolchain (cargo). Running it again upgrades in place.
set -eu

say() { printf '%s\n' "$*" >&2; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
}

prefix=""
profile_flag=""
setups=""
nl='
'
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --debug) profile_flag="--debug"; shift ;;
        --setup) [ $# -ge 2 ] || die "--setup needs a tool, e.g. --setup git"; setups="$setups$2$nl"; shift 2 ;;
        --setup=*) setups="$setups${1#--setup=}$nl"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$here/Cargo.toml" ] && [ -d "$here/helpers/entra-cred" ] || die "run me from the entra-cred source tree ($here is not one)"

# The one list of binaries (one a line, `#` comments).
BINS=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/binaries.txt" | tr '\n' ' ')
BINS=${BINS% }
[ -n "$BINS" ] || die "$here/binaries.txt lists no binaries"

command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain (https://rustup.rs), then run me again"

if [ -z "$prefix" ]; then
    root=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}
else
    mkdir -p "$prefix" || die "cannot create $prefix"
    root=$(cd "$prefix" && pwd)
fi
bindir="$root/bin"

say "==> Building and installing into $bindir ($( [ -n "$profile_flag" ] && echo debug || echo release ) build)"
for b in $BINS; do
    say "--> $b"
    # --force: upgrade in place; --locked: the versions in Cargo.lock.
    # Path installs share the workspace's target/ directory, so the core is built once.
    # shellcheck disable=SC2086
    cargo install --quiet --locked --force $profile_flag \
        --path "$here/helpers/$b" --root "$root" \
        || die "cargo install of $b failed (see above)"
done

say "==> Checking the installed binaries"
for b in $BINS; do
    exe="$bindir/$b"
    [ -x "$exe" ] || die "$exe was not installed"
    v=$("$exe" --version 2>&1) || die "$exe --version failed: $v"
    case "$v" in
        "$b "*) say "    $v  ($exe)" ;;
        *) say "    warning: $exe --version printed '$v', not '$b <version>'" ;;
    esac
done

case ":$PATH:" in
    *":$bindir:"*) on_path=yes ;;
    *) on_path=no ;;
esac

if [ -n "$setups" ]; then
    say "==> Setting up"
    old_ifs=$IFS
    IFS=$nl
    for line in $setups; do
        IFS=$old_ifs
        [ -n "$line" ] || continue
        say "--> entra-cred setup $line"
        set -f
        # shellcheck disable=SC2086
        "$bindir/entra-cred" setup $line || die "entra-cred setup $line failed"
        set +f
        IFS=$nl
    done
    IFS=$old_ifs
fi

say ""
say "Installed: $BINS"
if [ "$on_path" = no ]; then
    say ""
    say "$bindir is not on your PATH. Add it (docker and kubectl look helpers up there):"
    say "    export PATH=\"$bindir:\$PATH\""
fi
cat >&2 <<EOF

Next:
  1. Sign in once:            entra-cred login
  2. Wire up your tools (each is idempotent; add --dry-run to see the change first):
       entra-cred setup git                       # Azure Repos: dev.azure.com, *.visualstudio.com
       entra-cred setup docker <name>.azurecr.io  # ACR for docker, skopeo, podman, crane
       entra-cred setup kubectl                   # AKS users in ~/.kube/config -> kubectl-entra
       entra-cred setup aws --aws-profile <name> --scope api://<app>/.default --role-arn <arn>
       entra-cred setup cargo                     # Azure Artifacts Cargo feeds (cargo-credential-entra)
  3. Shell completion:        entra-cred completions bash|zsh|fish
  Check anytime:              entra-cred status
EOF
