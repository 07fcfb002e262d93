#!/usr/bin/env bash
# Build the Debian package of entra-cred from this source tree, and SHA256SUMS for what it ships.
#
#   install/package.sh [--out DIR] [--no-build]
#
#   --out DIR    where to put the results (default: target/dist)
#   --no-build   package what target/release already holds (after `cargo build --release`)
#
# Writes DIR/entra-cred_<version>-1_<arch>.deb, DIR/bin/<binary> (the exact files the package
# installs in /usr/bin) and DIR/SHA256SUMS covering all of them. What the package holds is the
# [package.metadata.deb] table of helpers/entra-cred/Cargo.toml (cargo-deb's format): binaries,
# man pages, shell completions, README, SPEC and licenses. It has no maintainer scripts: installing
# it changes no user's files (wiring the tools stays an explicit `entra-cred setup`).
#
# Needs cargo, python3, dpkg-deb and dpkg-shlibdeps (package dpkg-dev). The build is a release
# build; the package is reproducible for a given commit (timestamps are SOURCE_DATE_EPOCH, by
# default the commit's time).
set -euo pipefail

die() { printf 'package.sh: %s\n' "$*" >&2; exit 1; }
say() { printf '%s\n' "$*" >&2; }

here=$(cd "$(dirname "$0")/.." && pwd)
out="$here/target/dist"
build=yes
while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        --out=*) out=${1#--out=}; shift ;;
        --no-build) build=no; shift ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
for t in cargo python3 dpkg-deb dpkg-shlibdeps dpkg gzip sha256sum; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (dpkg-shlibdeps is in the dpkg-dev package)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/entra-cred-package.XXXXXX")
trap 'rm -rf "$work"' EXIT

cargo metadata --format-version 1 --no-deps --locked --manifest-path "$here/Cargo.toml" >"$work/metadata.json"

# meta MODE: reads [package.metadata.deb] of the entra-cred crate from cargo metadata.
#   packages  the cargo packages that build the binaries the package ships, one a line
#   control   KEY<TAB>VALUE lines of the package's fields
#   assets    SOURCE<TAB>DESTINATION<TAB>MODE, globs expanded, sources as absolute paths
meta() {
    python3 - "$1" "$work/metadata.json" <<'PY'
import glob, json, os, sys
mode, path = sys.argv[1], sys.argv[2]
m = json.load(open(path))
pkg = next(p for p in m["packages"] if p["name"] == "entra-cred")
deb = (pkg.get("metadata") or {}).get("deb")
if not deb or not deb.get("assets"):
    sys.exit("package.sh: helpers/entra-cred/Cargo.toml has no [package.metadata.deb] assets")
crate_dir = os.path.dirname(pkg["manifest_path"])
target = m["target_directory"]
PREFIX = "target/release/"

def source(src):
    if src.startswith(PREFIX):
        return os.path.join(target, "release", src[len(PREFIX):])
    return os.path.normpath(os.path.join(crate_dir, src))

if mode == "packages":
    bins = {os.path.basename(s) for s, _, _ in deb["assets"]
            if s.startswith(PREFIX) and "/" not in s[len(PREFIX):]}
    owners = {}
    for p in m["packages"]:
        for t in p["targets"]:
            if "bin" in t["kind"] and t["name"] in bins:
                owners[t["name"]] = p["name"]
    missing = sorted(bins - owners.keys())
    if missing:
        sys.exit("package.sh: no workspace crate builds " + ", ".join(missing))
    # Every binary of a crate under helpers/ is shipped: a new one must not be forgotten.
    helpers = os.path.join(os.path.dirname(os.path.dirname(crate_dir)), "helpers") + os.sep
    for p in m["packages"]:
        if p["manifest_path"].startswith(helpers):
            for t in p["targets"]:
                if "bin" in t["kind"] and t["name"] not in bins:
                    sys.exit(f"package.sh: {p['name']} builds {t['name']}, which the package does not ship: "
                             f'add ["target/release/{t["name"]}", "usr/bin/", "755"] to the assets '
                             "in helpers/entra-cred/Cargo.toml")
    print("\n".join(sorted(set(owners.values()))))
elif mode == "control":
    desc = (pkg.get("description") or "").strip()
    fields = {
        "Package": deb.get("name", pkg["name"]),
        "Version": pkg["version"] + "-" + str(deb.get("revision", "1")),
        "Maintainer": deb.get("maintainer", ""),
        "Section": deb.get("section", "utils"),
        "Priority": deb.get("priority", "optional"),
        "Depends": deb.get("depends", "$auto"),
        "Suggests": deb.get("suggests", ""),
        "Homepage": pkg.get("homepage") or pkg.get("repository") or "",
        "Description": desc,
        "Extended": " ".join(deb.get("extended-description", "").split()),
        "Copyright": deb.get("copyright", ""),
        "License": pkg.get("license") or "",
    }
    for k, v in fields.items():
        print(f"{k}\t{v}")
elif mode == "assets":
    for src, dest, perm in deb["assets"]:
        matches = sorted(glob.glob(source(src))) if any(c in src for c in "*?[") else [source(src)]
        if not matches:
            sys.exit(f"package.sh: asset {src} matches no file")
        for s in matches:
            if not os.path.isfile(s):
                sys.exit(f"package.sh: asset {s} does not exist (build first?)")
            d = dest + os.path.basename(s) if dest.endswith("/") else dest
            print(f"{s}\t{d}\t{perm}")
PY
}

field() { awk -F'\t' -v k="$1" '$1 == k { sub(/^[^\t]*\t/, ""); print; exit }' "$work/control.tsv"; }

meta packages >"$work/packages"
meta control >"$work/control.tsv"
name=$(field Package)
version=$(field Version)
arch=$(dpkg --print-architecture)
target_dir=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["target_directory"])' "$work/metadata.json")
release="$target_dir/release"

if [ "$build" = yes ]; then
    say "==> cargo build --release ($(tr '\n' ' ' <"$work/packages"))"
    args=()
    while read -r p; do args+=(-p "$p"); done <"$work/packages"
    cargo build --release --locked --bins --manifest-path "$here/Cargo.toml" "${args[@]}"
fi

say "==> shell completions (entra-cred completions bash|zsh|fish)"
mkdir -p "$release/completions"
"$release/entra-cred" completions bash >"$release/completions/entra-cred.bash"
"$release/entra-cred" completions zsh >"$release/completions/_entra-cred"
"$release/entra-cred" completions fish >"$release/completions/entra-cred.fish"

say "==> staging $name $version ($arch)"
# Debian's layout for dpkg-shlibdeps: debian/<package>/ is the package's root.
root="$work/debian/$name"
mkdir -p "$root/DEBIAN"
touch "$work/debian/control"
meta assets >"$work/assets.tsv"
while IFS=$'\t' read -r src dest mode; do
    install -D -m "$mode" "$src" "$root/$dest"
    case "$dest" in
        usr/share/man/*) gzip -9n "$root/$dest" ;;
    esac
done <"$work/assets.tsv"

doc="$root/usr/share/doc/$name"
mkdir -p "$doc"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $name
$(h=$(field Homepage); [ -z "$h" ] || printf 'Source: %s\n' "$h")

Files: *
Copyright: $(field Copyright)
License: MIT or Apache-2.0
 The full texts are in /usr/share/doc/$name/LICENSE-MIT and
 /usr/share/doc/$name/LICENSE-APACHE (also /usr/share/common-licenses/Apache-2.0).
EOF
chmod 644 "$doc/copyright"

depends=$(field Depends)
if [ "$depends" = '$auto' ] || [[ "$depends" == *'$auto'* ]]; then
    exes=()
    for f in "$root"/usr/bin/*; do exes+=(-e "${f#"$work"/}"); done
    shlib=$(cd "$work" && dpkg-shlibdeps -O "${exes[@]}" 2>"$work/shlibdeps.log") \
        || { cat "$work/shlibdeps.log" >&2; die "dpkg-shlibdeps failed"; }
    auto=${shlib#shlibs:Depends=}
    depends=${depends//\$auto/$auto}
fi

installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
{
    printf 'Package: %s\nVersion: %s\nArchitecture: %s\n' "$name" "$version" "$arch"
    printf 'Maintainer: %s\nInstalled-Size: %s\n' "$(field Maintainer)" "$installed_size"
    printf 'Depends: %s\n' "$depends"
    s=$(field Suggests); [ -n "$s" ] && printf 'Suggests: %s\n' "$s"
    printf 'Section: %s\nPriority: %s\n' "$(field Section)" "$(field Priority)"
    h=$(field Homepage); [ -n "$h" ] && printf 'Homepage: %s\n' "$h"
    printf 'Description: %s\n' "$(field Description)"
    field Extended | fold -s -w 78 | sed -e 's/ *$//' -e 's/^/ /'
} >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort \
    | xargs -d '\n' md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"

# Reproducible: every timestamp is the commit's, modes are set explicitly, owner root:root.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$here" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
find "$root" -type d -exec chmod 755 {} +
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$out"
out=$(cd "$out" && pwd)
deb="${name}_${version}_${arch}.deb"
rm -f "$out/$deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/$deb" >/dev/null
rm -rf "$out/bin"
mkdir -p "$out/bin"
cp -p "$root"/usr/bin/* "$out/bin/"
(cd "$out" && sha256sum "$deb" bin/* >SHA256SUMS)

say "==> $out"
(cd "$out" && sed 's/^/    /' SHA256SUMS) >&2
dpkg-deb --info "$out/$deb" | sed -n '/Package:/,$p' | sed 's/^ */    /' >&2
printf '%s\n' "$out/$deb"
