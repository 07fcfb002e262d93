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
# Needs only the Rust toolchain (cargo). Running it again upgrades in place (to uninstall,
# delete the five binaries from DIR/bin).
set -eu

say() { printf '%s\n' "$*" >&2; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
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

if [ -n "$profile_flag" ]; then kind=debug; else kind=release; fi
target_dir=${CARGO_TARGET_DIR:-$here/target}
pkgs=""
for b in $BINS; do pkgs="$pkgs -p $b"; done

say "==> Building $BINS ($kind build, one cargo build of the workspace; cargo shows its progress)"
start=$(date +%s)
# One build: the core, reqwest and serde_json are compiled once for all five binaries.
# --locked: the versions in Cargo.lock.
# shellcheck disable=SC2086
cargo build --locked $( [ "$kind" = release ] && echo --release ) $pkgs \
    --manifest-path "$here/Cargo.toml" --target-dir "$target_dir" \
    || die "cargo build failed (see above)"
say "    built in $(( $(date +%s) - start )) s"

say "==> Installing into $bindir"
mkdir -p "$bindir" || die "cannot create $bindir"
for b in $BINS; do
    src="$target_dir/$kind/$b"
    [ -x "$src" ] || die "$src was not built"
    # Copy beside the destination, then rename: a running helper keeps its old file, and no
    # half-written binary is ever on PATH.
    tmp="$bindir/.$b.install-$$"
    cp "$src" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$bindir/$b" \
        || { rm -f "$tmp"; die "cannot install $bindir/$b"; }
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
