#!/usr/bin/env bash
# Check the Debian package the way a user meets it, without touching this machine's system: install
# it with dpkg into a throwaway root, check what it installed, run every binary's --version, render
# the man pages, run the demo with the installed binaries, upgrade it in place, remove it and check
# that nothing is left behind.
#
#   install/test-package.sh [--no-demo] [DEB]
#
#   DEB        the package (default: the newest target/dist/entra-cred_*.deb, from package.sh)
#   --no-demo  skip install/demo.sh (it needs git, kubectl, skopeo and the AWS CLI or boto3)
#
# Needs dpkg, and man (man-db) or groff to render the pages. Runs as root or not (then dpkg runs
# with --force-not-root: the throwaway root belongs to the caller). The dpkg database and log of
# the throwaway root are its own; the only dependencies copied into it are the package's Depends,
# from this machine's database, so dpkg checks that they are satisfiable here.
set -euo pipefail

die() { printf 'test-package.sh: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf '    ok  %s\n' "$*" >&2; }
say() { printf '==> %s\n' "$*" >&2; }

here=$(cd "$(dirname "$0")/.." && pwd)
demo=yes
deb=""
for a in "$@"; do
    case "$a" in
        --no-demo) demo=no ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown argument: $a (see --help)" ;;
        *) deb=$a ;;
    esac
done
if [ -z "$deb" ]; then
    deb=$(ls -t "$here"/target/dist/entra-cred_*.deb 2>/dev/null | head -1 || true)
    [ -n "$deb" ] || die "no target/dist/entra-cred_*.deb: run install/package.sh first"
fi
[ -f "$deb" ] || die "$deb does not exist"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
sums="$(dirname "$deb")/SHA256SUMS"

name=$(dpkg-deb -f "$deb" Package)
version=$(dpkg-deb -f "$deb" Version)
upstream=${version%-*}

root=$(mktemp -d "${TMPDIR:-/tmp}/entra-cred-root.XXXXXX")
work=$(mktemp -d "${TMPDIR:-/tmp}/entra-cred-pkgtest.XXXXXX")
trap 'rm -rf "$root" "$work"' EXIT
admin="$root/var/lib/dpkg"
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers" "$root/var/log"
: >"$admin/status"
: >"$admin/available"
force=()
[ "$(id -u)" -eq 0 ] || force=(--force-not-root)
rdpkg() { dpkg --root="$root" --log="$root/var/log/dpkg.log" "${force[@]}" "$@"; }

say "$(basename "$deb"): no maintainer scripts"
scripts=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t | sed 's|^\./||' | grep -v -x -e '' -e control -e md5sums || true)
[ -z "$scripts" ] || die "the package has maintainer scripts or other control files: $scripts"
ok "control members: control, md5sums"

say "the package's Depends, from this machine's dpkg database"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in $(printf '%s\n' "$depends" | tr ',|' '\n\n' | sed -e 's/(.*)//' -e 's/:any//' | tr -d ' ' | sort -u); do
    [ -n "$dep" ] || continue
    dpkg-query -s "$dep" >>"$admin/status" 2>/dev/null || die "dependency $dep is not installed here"
    echo >>"$admin/status"
    : >"$admin/info/$(dpkg-query -W -f='${binary:Package}' "$dep").list"
done
ok "Depends: $depends"

say "dpkg -i into the throwaway root $root"
rdpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; die "dpkg -i failed"; }
ok "installed $name $version"

# Everything under the root except dpkg's own database and log.
tree() { (cd "$root" && find . -mindepth 1 \( -path ./var -prune \) -o -print | sed 's|^\.||' | LC_ALL=C sort); }
listed() { rdpkg -L "$name" | grep -v -x '/\.' | LC_ALL=C sort; }

say "dpkg -L matches the files on disk"
listed >"$work/listed"
tree >"$work/tree"
if ! diff -u "$work/listed" "$work/tree" >"$work/diff"; then
    cat "$work/diff" >&2
    die "dpkg -L and the installed tree differ (- only listed, + only on disk)"
fi
ok "$(wc -l <"$work/listed") paths, all listed and all present"

say "what is where"
bins=$(grep '^/usr/bin/' "$work/listed" | sed 's|^/usr/bin/||')
[ -n "$bins" ] || die "no binary in /usr/bin"
for b in $bins; do
    [ -x "$root/usr/bin/$b" ] || die "/usr/bin/$b is not executable"
    grep -q -x "/usr/share/man/man1/$b.1.gz" "$work/listed" || die "no man page for $b"
done
for page in $(grep '^/usr/share/man/man1/' "$work/listed" | sed -n 's|^/usr/share/man/man1/\(.*\)\.1\.gz$|\1|p'); do
    [ -x "$root/usr/bin/$page" ] || die "man page $page(1) but no /usr/bin/$page"
done
for f in /usr/share/bash-completion/completions/entra-cred \
    /usr/share/zsh/vendor-completions/_entra-cred \
    /usr/share/fish/vendor_completions.d/entra-cred.fish \
    "/usr/share/doc/$name/README.md" "/usr/share/doc/$name/copyright" \
    "/usr/share/doc/$name/LICENSE-MIT" "/usr/share/doc/$name/LICENSE-APACHE"; do
    grep -q -x "$f" "$work/listed" || die "$f is missing"
done
bash -n "$root/usr/share/bash-completion/completions/entra-cred" || die "the bash completion does not parse"
if command -v zsh >/dev/null 2>&1; then zsh -n "$root/usr/share/zsh/vendor-completions/_entra-cred" || die "the zsh completion does not parse"; fi
if command -v fish >/dev/null 2>&1; then fish -n "$root/usr/share/fish/vendor_completions.d/entra-cred.fish" || die "the fish completion does not parse"; fi
ok "binaries: $(echo $bins); each with its man page; completions; README, copyright, licenses"

say "every binary's --version"
for b in $bins; do
    v=$("$root/usr/bin/$b" --version 2>&1) || die "$b --version failed: $v"
    [ "$v" = "$b $upstream" ] || die "$b --version printed '$v', not '$b $upstream'"
    ok "$v"
done

say "the installed files are the published ones"
rdpkg --verify "$name" || die "dpkg --verify $name reports changed files"
ok "dpkg --verify (md5sums)"
if [ -f "$sums" ]; then
    (cd "$root/usr" && grep ' bin/' "$sums" | sha256sum --quiet -c -) || die "installed binaries differ from $sums"
    ok "binaries match $(basename "$sums") (cd /usr && sha256sum -c)"
fi

say "the man pages render"
for b in $bins; do
    page="$root/usr/share/man/man1/$b.1.gz"
    if command -v man >/dev/null 2>&1; then
        MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >"$work/page" 2>"$work/warn" || die "man -l $b.1.gz failed"
    elif command -v groff >/dev/null 2>&1; then
        gzip -dc "$page" | LC_ALL=C.UTF-8 groff -man -Tutf8 -ww >"$work/page" 2>"$work/warn" || die "groff $b.1 failed"
    else
        die "neither man nor groff is installed (apt-get install man-db)"
    fi
    [ ! -s "$work/warn" ] || { cat "$work/warn" >&2; die "$b.1 renders with warnings"; }
    grep -q "^NAME" "$work/page" && grep -q "$b" "$work/page" || die "$b.1 rendered without its NAME section"
    ok "$b(1): $(wc -l <"$work/page") lines, no warnings"
done

if [ "$demo" = yes ]; then
    say "the demo, with the installed binaries"
    "$here/install/demo.sh" --bin-dir "$root/usr/bin" || die "the demo failed with the installed binaries"
    tree >"$work/tree"
    diff -u "$work/listed" "$work/tree" >&2 || die "the demo left files in the installed tree"
    ok "demo passed; the installed tree is unchanged"
fi

say "upgrade in place (the same files as revision +1)"
mkdir "$work/next"
dpkg-deb -R "$deb" "$work/next/pkg"
next_version="${upstream}-$(( ${version##*-} + 1 ))"
sed -i "s/^Version: .*/Version: $next_version/" "$work/next/pkg/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/next/pkg" "$work/next/next.deb" >/dev/null
rdpkg -i "$work/next/next.deb" >"$work/upgrade.log" 2>&1 || { cat "$work/upgrade.log" >&2; die "the upgrade failed"; }
now=$(dpkg-query --admindir="$admin" -W -f='${Version}' "$name")
[ "$now" = "$next_version" ] || die "the upgrade did not take: $name is at $now"
listed >"$work/listed2"
tree >"$work/tree"
diff -u "$work/listed2" "$work/tree" >&2 || die "after the upgrade, dpkg -L and the installed tree differ"
ok "$version -> $next_version, nothing left over"

say "dpkg --purge, then nothing is left"
rdpkg --purge "$name" >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; die "dpkg --purge failed"; }
left=$(tree)
[ -z "$left" ] || die "left behind after --purge: $(echo $left)"
if dpkg-query --admindir="$admin" -W "$name" >/dev/null 2>&1; then
    die "dpkg still knows $name after --purge"
fi
ls "$admin/info/$name".* >/dev/null 2>&1 && die "dpkg's database keeps files of $name: $(ls "$admin/info/$name".*)"
ok "no file, no directory, no database entry"

say "package test passed: $(basename "$deb")"
